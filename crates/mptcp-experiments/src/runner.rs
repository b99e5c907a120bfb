//! Runs many independent simulations on all cores. Each run is deterministic and results
//! come back in input order, so the output does not depend on the thread count.

use mptcp_sim::{Report, RunOptions, Scenario};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct Runner {
    /// Worker threads.
    pub jobs: usize,
    /// Seed for every run (overrides the scenario files').
    pub seed: u64,
}

impl Runner {
    /// Runs every scenario; the reports are in the same order.
    pub fn run_all(
        &self,
        scenarios: &[Scenario],
        opts: &RunOptions,
    ) -> Result<Vec<Report>, String> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Report, String>>>> =
            Mutex::new(vec![None; scenarios.len()]);
        let opts = RunOptions {
            seed: Some(self.seed),
            ..opts.clone()
        };
        std::thread::scope(|s| {
            for _ in 0..self.jobs.max(1).min(scenarios.len().max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(sc) = scenarios.get(i) else { break };
                    let r = mptcp_sim::run(sc, &opts).map_err(|e| e.to_string());
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                });
            }
        });
        results
            .into_inner()
            .map_err(|_| "a simulation thread panicked".to_string())?
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("a simulation did not run".into())))
            .collect()
    }

    /// Runs one scenario.
    pub fn run_one(&self, scenario: &Scenario, opts: &RunOptions) -> Result<Report, String> {
        let mut v = self.run_all(std::slice::from_ref(scenario), opts)?;
        v.pop().ok_or_else(|| "no report".to_string())
    }
}
