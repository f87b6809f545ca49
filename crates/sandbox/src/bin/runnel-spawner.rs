//! The spawner binary used by this crate's tests and benchmarks (the `runnel` binary serves
//! the same role in production by calling [`runnel_sandbox::run_spawner_if_requested`]).

fn main() {
    runnel_sandbox::run_spawner_if_requested();
    eprintln!("runnel-spawner: run as `runnel-spawner __spawner` by runnel_sandbox::Spawner");
    std::process::exit(2);
}
