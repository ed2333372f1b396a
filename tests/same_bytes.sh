#!/usr/bin/env bash
# A refactor proves itself by identical output bytes: the tiny config with every explainer
# (tests/config/eight_explainers.yaml), run at BASE (a commit, default HEAD) and on the working
# tree, each with its own copy of those configs (a new key is unknown to an older schema), in a
# fresh folder with temporary files kept (--notemp). Compares the SHA-256 of
# every file under results/ but provenance.json (it records the commit). About 5 min a run.
#   bash tests/same_bytes.sh [BASE]      (make same-bytes BASE=...)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-HEAD}
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/base" 2>/dev/null; rm -rf "$work"' EXIT
git -C "$repo" worktree add --quiet --detach "$work/base" "$base"
for tree in "$work/base" "$repo"; do
  name=$([ "$tree" = "$repo" ] && echo work || echo base)
  mkdir "$work/run_$name"
  (cd "$work/run_$name" \
    && "$repo/.venv/bin/python" -m snakemake -s "$tree/Snakefile" --cores 2 --notemp \
      --configfile "$tree/tests/config/tiny.yaml" "$tree/tests/config/eight_explainers.yaml" \
      > snakemake.log 2>&1 \
    && find results -type f ! -name provenance.json | sort | xargs sha256sum) > "$work/$name.sha"
done
diff "$work/base.sha" "$work/work.sha"
echo "hash of the hash lists: $(sha256sum < "$work/base.sha" | cut -c1-16) (base)," \
  "$(sha256sum < "$work/work.sha" | cut -c1-16) (working tree)"
echo "identical: $(wc -l < "$work/work.sha") result files at $(git -C "$repo" rev-parse --short "$base") and in the working tree"
