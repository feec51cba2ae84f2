//! dice-operator command line: `crd` prints the CRD, `render` builds children offline.

use clap::{Parser, Subcommand};
use dice_operator::{DEFAULT_WORKLOAD_IMAGE, render};
use kube::CustomResourceExt;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dice-operator",
    version,
    about = "Turns a DiceService into a fully observed dice-server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the DiceService CustomResourceDefinition as YAML.
    Crd,
    /// Print every object a DiceService manifest produces, with no cluster (GitOps review, CI diffs).
    Render {
        /// DiceService manifest (YAML; several documents allowed); `-` reads standard input.
        #[arg(short = 'f', long = "filename", env = "DICE_RENDER_FILE")]
        file: PathBuf,
        /// Write one file per object into this directory instead of printing to stdout.
        #[arg(short = 'o', long = "output-dir", env = "DICE_RENDER_OUTPUT_DIR")]
        output_dir: Option<PathBuf>,
        /// Image for DiceServices that name none.
        #[arg(long, env = "DICE_WORKLOAD_IMAGE", default_value = DEFAULT_WORKLOAD_IMAGE)]
        workload_image: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => serde_yaml::to_string(&dice_operator::crd::DiceService::crd())
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| dice_operator::Error::Serialize(e.to_string())),
        Command::Render {
            file,
            output_dir,
            workload_image,
        } => render::run(&file, output_dir.as_deref(), &workload_image),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
