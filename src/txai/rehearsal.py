"""A paper-scale rehearsal: `python -m txai.rehearsal [FOLDER]` (`make rehearsal`).

Runs the DAG of config/paper.yaml here, on the CPU, at the paper's dimensions and with tiny
counts, then checks that every job stayed within the memory it declared. The dimensions are
the paper's: 19,241 protein-coding genes with GENCODE ids, 82 classes (49 GTEx tissues and 33
TCGA projects), the paper's CNN widths, kernels and 144 x 144 grid, reference pools of 2,000.
The counts are tiny: 6 samples a class (3 for the GTEx tissues that v8 holds fewer than 25 of,
which the size filter drops as it drops them at full scale), 2 explained per class, one epoch,
2 folds, 2 MLPs and 2 + 2 CNNs (own and shared gene order), 2 repeats, references and
replicates, 4 IG steps, short curves.

The cohort comes through the workflow's own download rules and parsers (the portal route):
files in the published layouts (`txai.sources` cites each) generated into FOLDER/mirror and
served on 127.0.0.1, with the TF lists and GO files that the annotation stage downloads.
GPU jobs declare their runtime for this CPU (train.device: cpu), by the same cost model that
declares the GPU's on a cluster. The rehearsal tests the per-gene, per-class and model-width
terms of the memory model (`txai.scale.mem_mb`); its per-sample terms are covered by the
chunking tests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import http.server
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from txai import io, resources
from txai.sources import GTEX_TISSUES, SMALL

REPO = Path(__file__).resolve().parents[2]
GENES = 19_241  # protein-coding genes of GENCODE v26 that the paper keeps
OTHER_GENES = {"lncRNA": 60, "processed_pseudogene": 30}  # in the files, not in the cohort
PER_CLASS, SMALL_CLASS = 6, 3  # samples per class; per GTEx tissue that v8 holds < 25 of
MIN_CLASS_SIZE = 5  # drops the small ones, as the paper's 25 drops them from v8's 54 tissues
SEED = 20220601

GTEX_ATTRIBUTES = (  # the header of GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt
    "SAMPID SMATSSCR SMCENTER SMPTHNTS SMRIN SMTS SMTSD SMUBRID SMTSISCH SMTSPAX SMNABTCH "
    "SMNABTCHT SMNABTCHD SMGEBTCH SMGEBTCHD SMGEBTCHT SMAFRZE SMGTC SME2MPRT SMCHMPRS SMNTRART "
    "SMNUMGPS SMMAPRT SMEXNCRT SM550NRM SMGNSDTC SMUNMPRT SM350NRM SMRDLGTH SMMNCPB SME1MMRT "
    "SMSFLGTH SMESTLBS SMMPPD SMNTERRT SMRRNANM SMRDTTL SMVQCFL SMMNCV SMTRSCPT SMMPPDPR "
    "SMCGLGTH SMGAPPCT SMUNPDRD SMNTRNRT SMMPUNRT SMEXPEFF SMMPPDUN SME2MMRT SME2ANTI SMALTALG "
    "SME2SNSE SMMFLGTH SME1ANTI SMSPLTRD SMBSMMRT SME1SNSE SME1PCTS SMRRNART SME1MPRT SMNUM5CD "
    "SMDPMPRT SME2PCTS"
).split()
RECOUNT3_METADATA = ["rail_id", "external_id", "study", "tcga_barcode", "gdc_file_id",
                     "gdc_cases.project.name", "gdc_cases.project.project_id",
                     "gdc_cases.samples.sample_type"]  # fmt: skip
TF_COLUMNS = ["Species", "Symbol", "Ensembl", "Family", "Protein", "Entrez_ID"]  # AnimalTFDB3
GO_ROOTS = {"GO:0008150": "biological_process", "GO:0003674": "molecular_function",
            "GO:0005575": "cellular_component"}  # fmt: skip


def tcga_projects() -> list[str]:
    return yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["cohort"]["portal"][
        "tcga_projects"
    ]


def annotation(r: np.random.Generator, coding: int = GENES) -> pd.DataFrame:
    """The genes of the GTF: GENCODE-style versioned ids, symbols, chromosome, biotype and one
    or two exons (start, end), the protein-coding ones first."""
    biotypes = ["protein_coding"] * coding + [b for b, n in OTHER_GENES.items() for _ in range(n)]
    n = len(biotypes)
    numbers = np.sort(r.choice(np.arange(1_000, 300_000), n, replace=False))
    starts = np.sort(r.integers(10_000, 240_000_000, n))
    lengths = r.integers(300, 6_000, n)
    versions = r.integers(1, 20, n)
    split = r.random(n) < 0.5  # a second exon, overlapping the first by half
    return pd.DataFrame({
        "gene_id": [f"ENSG{k:011d}.{v}" for k, v in zip(numbers, versions, strict=True)],
        "symbol": [f"TXG{i:05d}" for i in range(n)],
        "chrom": [f"chr{c}" for c in r.integers(1, 23, n)],
        "biotype": biotypes,
        "start": starts,
        "end": starts + lengths,
        "second": np.where(split, starts + lengths // 2, 0),
    })  # fmt: skip


def gtf_text(genes: pd.DataFrame) -> str:
    """A GENCODE GTF (v26's header lines, its attribute order): gene, transcript and exon
    lines; a second exon overlaps the first, so the union length counts it once."""
    lines = ["##description: evidence-based annotation of the human genome (GRCh38), version 26 "
             "(Ensembl 88)", "##provider: GENCODE", "##contact: gencode-help@ebi.ac.uk",
             "##format: gtf", "##date: 2017-03-14"]  # fmt: skip
    for i, g in enumerate(genes.itertuples(index=False)):
        gene = f'gene_id "{g.gene_id}"; gene_type "{g.biotype}"; gene_name "{g.symbol}"; level 2;'
        tx = (
            f'gene_id "{g.gene_id}"; transcript_id "ENST{i + 1:011d}.1"; gene_type '
            f'"{g.biotype}"; gene_name "{g.symbol}"; transcript_type "{g.biotype}"; level 2;'
        )
        exons = [(g.start, g.end)] + ([(g.second, g.end + 200)] if g.second else [])
        last = max(e for _, e in exons)
        lines.append(f"{g.chrom}\tHAVANA\tgene\t{g.start}\t{last}\t.\t+\t.\t{gene}")
        lines.append(f"{g.chrom}\tHAVANA\ttranscript\t{g.start}\t{last}\t.\t+\t.\t{tx}")
        for n, (s, e) in enumerate(exons, start=1):
            exon = tx.replace("level 2;", f"exon_number {n}; level 2;")
            lines.append(f"{g.chrom}\tHAVANA\texon\t{s}\t{e}\t.\t+\t.\t{exon}")
    return "\n".join(lines) + "\n"


def union_length(genes: pd.DataFrame) -> np.ndarray:
    """Each gene's exon union in base pairs (GTF coordinates are inclusive)."""
    end = np.where(genes["second"] > 0, genes["end"] + 200, genes["end"])
    return (end - genes["start"] + 1).to_numpy()


def tpm(classes: list[str], tissues: list[str], n_genes: int, r) -> np.ndarray:
    """TPM (samples x genes) with a signal to learn: per gene a base level, per tissue and per
    class 40 marker genes raised 8- and 4-fold, log-normal noise; each row sums to 1e6."""
    base = np.exp(r.normal(1.5, 2.0, n_genes))
    levels = np.tile(base, (len(classes), 1))
    for labels, fold in ((tissues, 8.0), (classes, 4.0)):
        markers = {name: r.choice(n_genes, 40, replace=False) for name in sorted(set(labels))}
        for row, name in enumerate(labels):
            levels[row, markers[name]] *= fold
    levels *= np.exp(r.normal(0.0, 0.3, levels.shape))
    return levels / levels.sum(axis=1, keepdims=True) * 1e6


def write_table_text(
    path: Path, header: list[str], frame: pd.DataFrame, preamble: str = ""
) -> None:
    """A tab-separated text file, gzipped when its name ends in .gz (mtime 0: same bytes)."""
    text = preamble + "\t".join(header) + "\n"
    text += frame.to_csv(sep="\t", header=False, index=False, float_format="%.5g")
    body = text.encode()
    path.write_bytes(gzip.compress(body, mtime=0) if path.suffix == ".gz" else body)


def tcga_barcode(project: int, participant: int, sample_type: str) -> str:
    """An aliquot barcode: TCGA-<TSS>-<participant>-<type><vial>-<portion><analyte>-<plate>-
    <center>, the site (TSS) and plate from the project's number."""
    site = f"{chr(65 + project // 10)}{project % 10}"
    return f"TCGA-{site}-{participant:04d}-{sample_type}A-11R-A{project:03d}-07"


def publish(folder: Path, seed: int = SEED, coding: int = GENES) -> dict:
    """Write the portal route's files (and the annotation stage's) into `folder` as their
    publishers lay them out; return each file's path relative to `folder` and the cohort's
    size as the data stage will find it."""
    r = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    genes = annotation(r, coding)
    lengths = union_length(genes)
    files = {"gtf": "gencode.v26.annotation.gtf.gz"}
    (folder / files["gtf"]).write_bytes(gzip.compress(gtf_text(genes).encode(), mtime=0))

    # GTEx: sample attributes (every sample RNASEQ, one EXCLUDE) and the TPM GCT
    rows = []
    for t, (smts, smtsd) in enumerate(GTEX_TISSUES):
        for s in range(SMALL_CLASS if smtsd in SMALL else PER_CLASS):
            rows.append((f"GTEX-{1000 + t:X}{s}-0{t:03d}-SM-{t:02d}{s:03d}", smts, smtsd, "RNASEQ"))
    rows.append(("GTEX-ZZZZ0-0001-SM-00001", "Liver", "Liver", "EXCLUDE"))
    attributes = pd.DataFrame(rows, columns=["SAMPID", "SMTS", "SMTSD", "SMAFRZE"])
    full = attributes.reindex(columns=GTEX_ATTRIBUTES, fill_value="")
    files["gtex_attributes"] = "GTEx_Analysis_v8_Annotations_SampleAttributesDS.txt"
    write_table_text(folder / files["gtex_attributes"], GTEX_ATTRIBUTES, full)
    values = tpm(list(attributes["SMTSD"]), list(attributes["SMTS"]), len(genes), r)
    gct = pd.DataFrame(values.T, columns=attributes["SAMPID"])
    gct.insert(0, "Description", genes["symbol"])
    gct.insert(0, "Name", genes["gene_id"])
    files["gtex_tpm"] = "GTEx_Analysis_2017-06-05_v8_RNASeQCv1.1.9_gene_tpm.gct.gz"
    write_table_text(folder / files["gtex_tpm"], list(gct.columns), gct,
                     f"#1.2\n{len(genes)}\t{len(attributes)}\n")  # fmt: skip

    # recount3: per project gene sums (coverage = TPM x length x depth) and metadata, each
    # with a solid tissue normal (type 11) that the primary-tumour filter leaves out
    for p, project in enumerate(tcga_projects()):
        primary = "03" if project == "LAML" else "01"
        types = [primary] * PER_CLASS + ["11"]
        barcodes = [tcga_barcode(p, s, t) for s, t in enumerate(types)]
        ids = [str(uuid.UUID(bytes=r.bytes(16), version=4)) for _ in types]
        rails = np.arange(len(types)) + 100_000 * (p + 1)
        rows = zip(rails, ids, barcodes, types, strict=True)
        meta = pd.DataFrame(
            [(n, i, project, b, i, project, f"TCGA-{project}", t) for n, i, b, t in rows]
        )
        where = f"{project[-2:]}/{project}"
        (folder / where).mkdir(parents=True, exist_ok=True)
        files[f"metadata_{project}"] = f"{where}/tcga.tcga.{project}.MD.gz"
        write_table_text(folder / files[f"metadata_{project}"], RECOUNT3_METADATA, meta)
        labels = [project] * len(types)
        counts = np.rint(tpm(labels, labels, len(genes), r) * lengths * 0.1)
        sums = pd.DataFrame(counts.T.astype(np.int64), columns=ids)
        sums.insert(0, "gene_id", genes["gene_id"])
        files[f"sums_{project}"] = f"{where}/tcga.gene_sums.{project}.G026.gz"
        write_table_text(
            folder / files[f"sums_{project}"],
            list(sums.columns),
            sums,
            "##annotation=G026\n##date.generated=2020-06-05 14:31:59.261473\n",
        )

    files.update(write_annotation(folder, genes[genes["biotype"] == "protein_coding"], r))
    kept = attributes[(attributes["SMAFRZE"] == "RNASEQ") & ~attributes["SMTSD"].isin(SMALL)]
    classes = kept["SMTSD"].nunique() + len(tcga_projects())
    samples = len(kept) + PER_CLASS * len(tcga_projects())
    size = {"samples": samples, "genes": coding, "classes": classes, "largest_class": PER_CLASS}
    return {"files": files, "size": size}


def write_annotation(folder: Path, coding: pd.DataFrame, r) -> dict[str, str]:
    """AnimalTFDB3's TF and TF cofactor lists, GO's go-basic.obo (a small DAG under the three
    roots) and a GOA human GAF 2.2 annotating the genes to its leaves."""
    files = {"tf": "Homo_sapiens_TF", "tf_cofactor": "Homo_sapiens_TF_cofactors",
             "go_obo": "go-basic.obo", "go_gaf": "goa_human.gaf.gz"}  # fmt: skip
    tfs, cofactors = len(coding) * 1_600 // GENES, len(coding) * 1_100 // GENES  # AnimalTFDB3's
    picked = coding.sample(n=tfs + cofactors, random_state=r.integers(2**31))
    for key, chosen in (("tf", picked[:tfs]), ("tf_cofactor", picked[tfs:])):
        table = pd.DataFrame({
            "Species": "Homo_sapiens", "Symbol": chosen["symbol"],
            "Ensembl": chosen["gene_id"].str.split(".").str[0], "Family": "zf-C2H2",
            "Protein": [f"ENSP{i:011d}" for i in range(len(chosen))],
            "Entrez_ID": np.arange(len(chosen)) + 1_000,
        })  # fmt: skip
        write_table_text(folder / files[key], TF_COLUMNS, table)
    stanzas = ["format-version: 1.2\ndata-version: releases/2020-06-01\nontology: go\n"]
    leaves = []  # (term, GAF aspect)
    for n, (root, namespace) in enumerate(GO_ROOTS.items()):
        stanzas.append(f"[Term]\nid: {root}\nname: {namespace}\nnamespace: {namespace}\n")
        for k in range(60):
            term = f"GO:{9_000_000 + 100 * n + k:07d}"
            leaves.append((term, "PFC"[n]))
            stanzas.append(f"[Term]\nid: {term}\nname: {namespace} term {k}\n"
                           f"namespace: {namespace}\nis_a: {root} ! {namespace}\n")  # fmt: skip
    (folder / files["go_obo"]).write_text("\n".join(stanzas))
    lines = ["!gaf-version: 2.2", "!generated-by: GOC", "!date-generated: 2020-06-01"]
    symbols = r.choice(coding["symbol"].to_numpy(), 30_000)
    for gene, pick in zip(symbols, r.integers(len(leaves), size=30_000), strict=True):
        term, aspect = leaves[pick]
        lines.append("\t".join(["UniProtKB", f"P{gene[3:]}", gene, "involved_in", term, "PMID:1",
                                "IDA", "", aspect, gene, "", "protein", "taxon:9606", "20200601",
                                "UniProt", "", ""]))  # fmt: skip
    body = ("\n".join(lines) + "\n").encode()
    (folder / files["go_gaf"]).write_bytes(gzip.compress(body, mtime=0))
    return files


def overlay(url, published: dict, folder: Path) -> dict:
    """The config merged over config/paper.yaml: the mirror's URLs (pinned by checksum), the
    cohort's size, and tiny counts; GPU jobs declared for this CPU."""
    files = published["files"]

    def spec(key: str) -> dict:
        return {"url": url(files[key]), "sha256": io.sha256(folder / files[key])}

    optimised = {"repeats": 2, "references": {"count": 2}}
    smooth = {"smoothgrad": {"copies": 2}}
    return {
        "cohort": {"source": "portal", "portal": {
            "size": published["size"],
            **{key: spec(key) for key in ("gtex_tpm", "gtex_attributes", "gtf")},
            "tcga_sums": {"url": url("{suffix}/{project}/tcga.gene_sums.{project}.G026.gz")},
            "tcga_metadata": {"url": url("{suffix}/{project}/tcga.tcga.{project}.MD.gz")},
        }},
        "data": {"test_fraction": 0.34, "min_class_size": MIN_CLASS_SIZE},  # 2 test samples
        "train": {
            "device": "cpu", "threads": 2, "max_epochs": 1, "crossval_folds": 2,
            "accuracy_floor": 0.0,  # one epoch on 4 samples a class: resources, not accuracy
            "mlp": {"models": 2},
            "cnn": {"models": 2, "same_order_models": 2, "max_epochs": 1},
        },
        "explain": {
            "replicates": 2, "ig_steps": 4, "samples": {"per_class": 2},
            "settings": {"optimised": {
                "mlp": {**optimised, "overrides": {"Saliency": smooth}},
                "cnn": {**optimised, "overrides": {"GuidedBackprop": smooth}},
            }},
        },
        "reproducibility": {"inter_models": 2, "aggregate_models": 1},
        "simulate": {"models": 2, "pool": 3, "max_n": 4, "max_models": 2, "samples": 1},
        "annotate": {key: spec(key) for key in ("tf", "tf_cofactor", "go_obo", "go_gaf")},
        "sanity": {"epochs": 1},
        "hpc": {"min_runtime": 1},
    }  # fmt: skip


@contextlib.contextmanager
def serve(folder: Path):
    """Serve `folder` over HTTP on 127.0.0.1 while the block runs; yields the URL of a path."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield lambda path: f"http://127.0.0.1:{httpd.server_address[1]}/{path}"
        finally:
            httpd.shutdown()


def by_rule(found: list[dict]) -> pd.DataFrame:
    """Per rule (generated rules by family: train_mlp_m01_m02 -> train_mlp, explain_cnn_b01_plain_1
    -> explain_cnn, explain_mlp_curves_curve_repeats_1 -> explain_mlp_curves): jobs, the largest
    declared mem_mb and recorded peak, the largest peak / mem_mb, the largest declared runtime
    (minutes), the longest job's minutes and the largest minutes / runtime."""
    frame = pd.DataFrame(found)
    family = frame["rule"].str.replace(r"_[mb]\d\d(_.*)?$", "", regex=True)
    frame["rule"] = family.str.replace(r"_curves_.*$", "_curves", regex=True)
    frame["ratio"] = frame["peak_host_mb"] / frame["mem_mb"]
    frame["minutes"] = frame["seconds"] / 60
    frame["time_ratio"] = frame["minutes"] / frame["runtime"]
    grouped = frame.groupby("rule", sort=False)
    table = grouped.agg(jobs=("rule", "size"), mem_mb=("mem_mb", "max"),
                        peak_mb=("peak_host_mb", "max"), ratio=("ratio", "max"),
                        runtime_min=("runtime", "max"), minutes=("minutes", "max"),
                        time_ratio=("time_ratio", "max"))  # fmt: skip
    return table.reset_index()


def markdown(table: pd.DataFrame) -> str:
    formats = (None, "d", ".0f", ".0f", ".2f", ".0f", ".1f", ".2f")
    return table.to_markdown(index=False, floatfmt=formats)


def run(folder: Path, cores: int = 2) -> int:
    """Generate, serve and run; print the per-rule table (also FOLDER/rehearsal.md) and return
    1 when a job's recorded peak exceeded its declared mem_mb."""
    folder = folder.resolve()
    started = time.time()
    print(f"Writing the published files into {folder / 'mirror'} ...", flush=True)
    published = publish(folder / "mirror")
    with serve(folder / "mirror") as url:
        config = folder / "rehearsal.yaml"
        config.write_text(yaml.safe_dump(overlay(url, published, folder / "mirror")))
        command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
                   "--cores", str(cores), "--configfile", str(REPO / "config" / "paper.yaml"),
                   str(config)]  # fmt: skip
        print(" ".join(command), flush=True)
        env = {**os.environ, "no_proxy": "*"}  # 127.0.0.1 never through a proxy
        done = subprocess.run(command, cwd=folder, env=env)
    minutes = (time.time() - started) / 60
    found = resources.records(folder)
    if not found:
        print(f"No job recorded its resources under {folder / resources.FOLDER}.")
        return 1
    table = markdown(by_rule(found))
    when = time.strftime("%Y-%m-%d")
    summary = (f"{table}\n\nMeasured {when}: {len(found)} jobs, {minutes:.1f} minutes on "
               f"{os.cpu_count()} CPU cores, Snakemake exit status {done.returncode}.")  # fmt: skip
    (folder / "rehearsal.md").write_text(summary + "\n")
    print(summary)
    over = resources.check(folder)
    for record in over:
        print(resources.over(record))
    return 1 if over or done.returncode else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="rehearsal", help="where it runs")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    return run(Path(args.folder), args.cores)


if __name__ == "__main__":
    raise SystemExit(main())
