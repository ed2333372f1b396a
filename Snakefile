# Runs the workflow in workflow/Snakefile (where the Snakemake Workflow Catalog looks for it).
# Declared as a module: rules of a bare `include:` are never the default target.
configfile: "config/config.yaml"


module txai:
    snakefile:
        "workflow/Snakefile"
    config:
        config


use rule * from txai
