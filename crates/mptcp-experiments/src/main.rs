//! `mptcp-experiments [NAME]...`: reruns the seed documents' experiments in the simulator
//! and writes, per experiment, `experiments/<name>.csv`, `experiments/<name>.svg` and its
//! section of `experiments/README.md`. Same seed, same CSV, byte for byte.

mod experiments;
mod plot;
mod readme;
mod runner;
mod table;

use clap::Parser;
use mptcp_sim::Scenario;
use std::path::PathBuf;
use std::process::ExitCode;

/// Reruns the seed documents' experiments in the simulator.
#[derive(Debug, Parser)]
#[command(name = "mptcp-experiments")]
struct Args {
    /// Experiments to run (default: all); see --list.
    names: Vec<String>,
    /// Directory with the base scenarios, where the results go.
    #[arg(long, default_value = "experiments")]
    dir: PathBuf,
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulations run at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// List the experiments and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let all = experiments::all();
    if args.list {
        for e in &all {
            println!("{:<12} {}", e.name, e.title);
        }
        return ExitCode::SUCCESS;
    }
    for n in &args.names {
        if !all.iter().any(|e| e.name == n) {
            let known: Vec<&str> = all.iter().map(|e| e.name).collect();
            eprintln!("unknown experiment {n:?} (known: {})", known.join(", "));
            return ExitCode::from(2);
        }
    }
    let runner = runner::Runner {
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        seed: args.seed,
    };
    let readme_path = args.dir.join("README.md");
    let mut readme = std::fs::read_to_string(&readme_path).unwrap_or_default();
    let mut failed = false;
    for e in all
        .iter()
        .filter(|e| args.names.is_empty() || args.names.iter().any(|n| n == e.name))
    {
        let started = std::time::Instant::now();
        match run_one(e, &args, &runner) {
            Ok(section) => {
                readme = readme::replace_block(&readme, e.name, &section);
                eprintln!(
                    "{}: done in {:.1} s",
                    e.name,
                    started.elapsed().as_secs_f64()
                );
            }
            Err(err) => {
                eprintln!("{}: {err}", e.name);
                failed = true;
            }
        }
    }
    if let Err(err) = std::fs::write(&readme_path, readme) {
        eprintln!("{}: {err}", readme_path.display());
        return ExitCode::FAILURE;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one experiment, writes its CSV and SVG, and returns its README section.
fn run_one(
    e: &experiments::Experiment,
    args: &Args,
    runner: &runner::Runner,
) -> Result<String, String> {
    let scenario_path = args.dir.join(format!("{}.toml", e.name));
    let base = Scenario::from_file(&scenario_path).map_err(|err| err.to_string())?;
    let out = (e.run)(&base, runner)?;
    let csv = args.dir.join(format!("{}.csv", e.name));
    let svg = args.dir.join(format!("{}.svg", e.name));
    out.table.write_csv(&csv)?;
    for (suffix, t) in &out.extra {
        t.write_csv(&args.dir.join(format!("{}-{suffix}.csv", e.name)))?;
    }
    out.plot.write_svg(&svg)?;
    let mut section = format!(
        "### {}\n\n{}\n\nScenario `{}.toml`, seed {}; regenerate with \
         `cargo run --release -p mptcp-experiments -- {}`.\n\n![{}]({}.svg)\n\n{}\n",
        e.title,
        e.about,
        e.name,
        args.seed,
        e.name,
        e.title,
        e.name,
        out.table.to_markdown()
    );
    for n in &out.notes {
        section += &format!("- {n}\n");
    }
    Ok(section)
}
