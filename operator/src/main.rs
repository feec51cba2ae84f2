//! dice-operator: placeholder until the operator-core issue lands the controller.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "dice-operator {}: the controller is not built yet",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
