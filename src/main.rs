//! The `bureau` command line: parses arguments, sets up logging, calls one
//! library function per subcommand, renders the result and maps it to an
//! exit code (0 ok, 1 ran but found nothing, 2 error).

mod cli;

use clap::Parser;
use cli::args::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::logging(cli.global.verbose);
    match cli::run(cli) {
        Ok(found) if found => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(error) => {
            let mut said = error.to_string();
            eprintln!("error: {said}");
            // Some messages already quote their cause; say each thing once.
            for cause in error.chain().skip(1).map(|c| c.to_string()) {
                if !said.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                    said.push_str(&cause);
                }
            }
            ExitCode::from(2)
        }
    }
}
