//! `sim7600-package-assets OUT_DIR`: the man pages and shell completions of `sim7600`,
//! generated from the same clap definition the binary parses, so the package can never
//! document a flag the program does not have.
//!
//! It writes:
//! - `OUT_DIR/man/sim7600.1.gz` and one `sim7600-<command>.1.gz` per subcommand
//!   (gzip-compressed, as Debian installs man pages);
//! - `OUT_DIR/completions/sim7600.bash` and `OUT_DIR/completions/_sim7600` (zsh).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use flate2::Compression;
use flate2::write::GzEncoder;
use host_linux::app::cli::Cli;

/// A file this tool could not write, and why.
#[derive(Debug)]
struct WriteError {
    path: PathBuf,
    source: io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

fn context(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one man page, gzip-compressed, to `path`.
fn write_man_page(command: clap::Command, path: &Path) -> Result<(), WriteError> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut roff)
        .map_err(context(path))?;
    let file = File::create(path).map_err(context(path))?;
    let mut gz = GzEncoder::new(file, Compression::best());
    gz.write_all(&roff).map_err(context(path))?;
    gz.finish().map_err(context(path))?;
    Ok(())
}

/// The man pages: `sim7600(1)` and one page per subcommand, named as man(1) looks them up
/// (`man sim7600-voice-bot`).
fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    fs::create_dir_all(dir).map_err(context(dir))?;
    let mut cli = Cli::command();
    cli.build();
    let mut written = Vec::new();
    let top = dir.join("sim7600.1.gz");
    write_man_page(cli.clone(), &top)?;
    written.push(top);
    // clap's generated `help` subcommand is no command of the program's own.
    for sub in cli.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("sim7600-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone());
        let path = dir.join(format!("{name}.1.gz"));
        write_man_page(page, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// bash and zsh completions, under the names their packaged folders expect.
fn write_completions(dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    fs::create_dir_all(dir).map_err(context(dir))?;
    let mut written = Vec::new();
    for (shell, file) in [(Shell::Bash, "sim7600.bash"), (Shell::Zsh, "_sim7600")] {
        let path = dir.join(file);
        let mut out = File::create(&path).map_err(context(&path))?;
        clap_complete::generate(shell, &mut Cli::command(), "sim7600", &mut out);
        out.flush().map_err(context(&path))?;
        written.push(path);
    }
    Ok(written)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: sim7600-package-assets OUT_DIR");
        return ExitCode::from(64);
    };
    let out = PathBuf::from(out);
    let result = write_man_pages(&out.join("man")).and_then(|mut m| {
        write_completions(&out.join("completions")).map(|c| {
            m.extend(c);
            m
        })
    });
    match result {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sim7600-package-assets: cannot write {e}");
            ExitCode::from(1)
        }
    }
}
