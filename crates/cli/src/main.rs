//! The `shmkit` command: see, inspect and clean up shmkit's objects in `/dev/shm`, and
//! run the benchmark suite.
//!
//! ```text
//! shmkit ls [--json] [PREFIX]     every object: kind, type, size, fill, value, participants, age
//! shmkit inspect NAME [--json]    one object's header, participants and state in detail
//! shmkit rm NAME... [--force]     remove objects by name
//! shmkit gc [--dry-run] [PREFIX]  remove every object no live process uses
//! shmkit bench [--quick] [WORD]   run the benchmark suite and print its table
//! shmkit bridge export NAME KEYEXPR [--connect E] [--listen E]   a local queue or pipe onto Zenoh
//! shmkit bridge import KEYEXPR NAME [--connect E] [--listen E]   Zenoh into a local queue
//! shmkit bridge stats STATE                                      a bridge's counters
//! ```
//!
//! `bridge` needs Zenoh, which is linked only with the `zenoh` feature (see `bridge.rs`).
//!
//! `bench` needs the benchmark suite, which is linked only with the `bench` feature
//! (`cargo install --path crates/cli --features bench`); without it the subcommand says
//! so.
//!
//! Looking at an object never registers as one of its participants, so `ls`, `inspect`
//! and `bridge stats` never keep an object alive, and never maps its file: every object, ours or
//! another user's, is read with `pread` into a private snapshot and validated there, so
//! nothing a file's owner does to it (truncating it, scribbling on its header) can crash
//! the command. `gc` removes only objects of our own user; another user's are kept, and
//! `gc --dry-run` says so. Errors are one line on stderr, saying what to do, with exit
//! status 1 (2 for a command line clap cannot parse).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use shmkit_core::{segment, Object, OpenError};

mod bridge;
mod objects;

use objects::{age, body_json, counts, elem_type, participant_json, show_age, show_size, Entry};

#[derive(Parser)]
#[command(name = "shmkit", version, about = "See, inspect and clean up shmkit's shared-memory objects.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every shmkit object in /dev/shm.
    Ls {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
        /// Only objects whose name starts with this.
        prefix: Option<String>,
    },
    /// Show one object's header, participants and state.
    Inspect {
        /// The object's name (as given to `create`, without the `shmkit.` prefix).
        name: String,
        /// One JSON object, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Remove objects by name. Processes attached keep using them; new ones cannot open them.
    Rm {
        /// The objects' names.
        #[arg(required = true)]
        names: Vec<String>,
        /// Also remove files that are not valid shmkit objects or belong to someone else.
        #[arg(long)]
        force: bool,
    },
    /// Remove every object of ours that no live process uses (left behind by crashed
    /// programs). Other users' objects are left alone, even for root.
    Gc {
        /// Say what would be removed and what is kept and why; remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Seconds an object that never became ready, and that nobody holds, is given
        /// before it counts as abandoned (its creator may still be setting it up).
        #[arg(long, default_value_t = 5.0)]
        grace: f64,
        /// Only objects whose name starts with this.
        prefix: Option<String>,
    },
    /// Run the benchmark suite across two processes and print its table (needs the `bench`
    /// feature).
    Bench {
        /// Short warm-up and measurement: the whole suite in well under a minute.
        #[arg(long)]
        quick: bool,
        /// Also write the chart of round trip against payload size to this SVG file.
        #[arg(long, value_name = "FILE")]
        chart: Option<std::path::PathBuf>,
        /// Run the selected rows this many times, one pass after another, and report each
        /// row's median round and its median ratio to each peer of the same round.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        rounds: u16,
        /// Run only the rows whose name contains this.
        filter: Option<String>,
    },
    /// Carry a local queue or pipe to other hosts over Zenoh, or Zenoh samples into a
    /// local queue (needs the `zenoh` feature).
    Bridge {
        #[command(subcommand)]
        command: bridge::BridgeCommand,
    },
}

/// A one-line error for the user.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    // `shmkit bench` starts this program again for its spawn rows.
    #[cfg(feature = "bench")]
    shmkit_process::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ls { json, prefix } => ls(json, prefix.as_deref()),
        Command::Inspect { name, json } => inspect(&name, json),
        Command::Rm { names, force } => rm(&names, force),
        Command::Gc { dry_run, grace, prefix } => gc(dry_run, grace, prefix.as_deref()),
        Command::Bench { quick, chart, rounds, filter } => bench(quick, chart, rounds.into(), filter),
        Command::Bridge { command } => bridge::run(command).map_err(Failure),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg)) => {
            eprintln!("shmkit: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Every object whose name starts with `prefix`, loaded one at a time (each is a copy in
/// memory, so no more than one is held at once).
fn entries(prefix: Option<&str>) -> Result<impl Iterator<Item = Entry>, Failure> {
    let listing = segment::list().map_err(|e| format!("cannot read /dev/shm ({e}): is it mounted?"))?;
    let prefix = prefix.map(str::to_owned);
    let wanted = move |l: &segment::Listing| prefix.as_deref().is_none_or(|p| l.name.as_str().starts_with(p));
    Ok(listing.into_iter().filter(wanted).map(Entry::load))
}

fn ls(as_json: bool, prefix: Option<&str>) -> Result<(), Failure> {
    let entries = entries(prefix)?;
    let mut out = std::io::stdout().lock();
    if as_json {
        let list: Vec<_> = entries.map(|e| ls_json(&e)).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    let mut rows = vec![["NAME", "KIND", "TYPE", "SIZE", "FILL", "VALUE", "PARTICIPANTS", "CREATOR", "AGE"]
        .map(str::to_owned)];
    for e in entries {
        let size = show_size(e.listing.size);
        rows.push(match &e.object {
            Ok(obj) => {
                let info = obj.info();
                let body = e.body().unwrap_or_default();
                let fill = match (body.fill, body.capacity) {
                    (Some(f), Some(c)) => format!("{f}/{c}"),
                    _ => "-".to_owned(),
                };
                let value = body.problem.map(|p| format!("corrupt: {p}")).or(body.value);
                let (alive, dead) = counts(&obj.participants());
                let parts =
                    if dead > 0 { format!("{alive} alive, {dead} dead") } else { format!("{alive} alive") };
                [
                    e.name().to_owned(),
                    shmkit_core::Kind::describe(info.kind),
                    elem_type(info),
                    size,
                    fill,
                    value.unwrap_or_else(|| "-".to_owned()),
                    parts,
                    format!("pid {}", info.creator_pid),
                    show_age(age(info)),
                ]
            }
            Err(err) => {
                let why = format!("({})", short_error(err));
                [
                    e.name().to_owned(),
                    "?".into(),
                    "-".into(),
                    size,
                    "-".into(),
                    why,
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]
            }
        });
    }
    if rows.len() == 1 {
        writeln!(out, "no shmkit objects")?;
        return Ok(());
    }
    let widths: Vec<usize> =
        (0..9).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for r in &rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

/// A few words for an object that cannot be attached, for the listing and `gc`.
fn short_error(err: &OpenError) -> String {
    match err {
        OpenError::NotReady { .. } => "not ready: being created, or its creator died early".into(),
        OpenError::CreatorDied => "abandoned: its creator died before it was ready".into(),
        OpenError::BadMagic { .. } => "not a shmkit object".into(),
        OpenError::VersionMismatch { .. } => "another shmkit format version".into(),
        OpenError::PermissionDenied { .. } => "permission denied".into(),
        e => e.to_string(),
    }
}

fn ls_json(e: &Entry) -> serde_json::Value {
    let base = json!({ "name": e.name(), "size": e.listing.size, "uid": e.listing.uid });
    let mut v = base;
    match &e.object {
        Ok(obj) => {
            let info = obj.info();
            let body = e.body().unwrap_or_default();
            let (alive, dead) = counts(&obj.participants());
            v["kind"] = json!(shmkit_core::Kind::describe(info.kind));
            v["type"] = json!(elem_type(info));
            v["capacity"] = json!(body.capacity);
            v["fill"] = json!(body.fill);
            v["value"] = json!(body.value);
            v["problem"] = json!(body.problem);
            v["participants"] = json!({ "alive": alive, "dead": dead });
            v["creator_pid"] = json!(info.creator_pid);
            v["created_unix_ns"] = json!(info.created_ns);
            v["age_seconds"] = json!(age(info).map(|d| d.as_secs_f64()));
            v["error"] = json!(null);
        }
        Err(err) => v["error"] = json!(err.to_string()),
    }
    v
}

fn open_one(name: &str) -> Result<Entry, Failure> {
    shmkit_core::Name::new(name)?;
    let listing = segment::list()?.into_iter().find(|l| l.name.as_str() == name);
    let listing =
        listing.ok_or_else(|| format!("no shmkit object named {name:?}: `shmkit ls` lists them"))?;
    Ok(Entry::load(listing))
}

fn inspect(name: &str, as_json: bool) -> Result<(), Failure> {
    let e = open_one(name)?;
    let obj = e.object.as_ref().map_err(|err| format!("cannot inspect {name:?}: {err}"))?;
    let info = obj.info();
    let parts = obj.participants();
    let body = objects::body_state(obj);
    let mut out = std::io::stdout().lock();
    if as_json {
        let v = json!({
            "name": name,
            "path": e.listing.name.path(),
            "size": e.listing.size,
            "uid": e.listing.uid,
            "mode": format!("{:o}", e.listing.mode),
            "header": {
                "kind": shmkit_core::Kind::describe(info.kind),
                "version": info.version,
                "state": if info.state == shmkit_core::header::STATE_READY { "ready" } else { "not ready" },
                "slots": info.slots,
                "total_size": info.total_size,
                "body_offset": info.body_offset,
                "body_len": info.body_len,
                "element": {
                    "type": elem_type(info),
                    "code": info.elem.code,
                    "size": info.elem.size,
                    "align": info.elem.align,
                    "name_hash": format!("{:#018x}", info.elem.name_hash),
                    "name": info.elem.name.get(),
                    "count": info.elem_count,
                },
                "flags": info.flags,
                "creator": { "pid": info.creator_pid, "uid": info.creator_uid, "start_ticks": info.creator_start },
                "created_unix_ns": info.created_ns,
                "age_seconds": age(info).map(|d| d.as_secs_f64()),
            },
            "participants": parts.iter().map(participant_json).collect::<Vec<_>>(),
            "state": body_json(&body),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    let kv = |out: &mut std::io::StdoutLock<'_>, k: &str, v: String| writeln!(out, "  {k:<36} {v}");
    writeln!(out, "{name}  ({})", e.listing.name.path())?;
    writeln!(out, "header")?;
    kv(&mut out, "kind", shmkit_core::Kind::describe(info.kind))?;
    kv(&mut out, "format version", info.version.to_string())?;
    kv(
        &mut out,
        "file",
        format!("{} bytes, mode {:o}, uid {}", e.listing.size, e.listing.mode, e.listing.uid),
    )?;
    kv(&mut out, "body", format!("{} bytes at offset {}", info.body_len, info.body_offset))?;
    kv(
        &mut out,
        "elements",
        format!(
            "{} of {} (size {}, align {}, type hash {:#018x})",
            info.elem_count,
            elem_type(info),
            info.elem.size,
            info.elem.align,
            info.elem.name_hash
        ),
    )?;
    kv(&mut out, "flags", format!("{:#x}", info.flags))?;
    kv(&mut out, "creator", format!("pid {}, uid {}", info.creator_pid, info.creator_uid))?;
    kv(&mut out, "age", show_age(age(info)))?;
    let (alive, dead) = counts(&parts);
    writeln!(out, "participants ({alive} alive, {dead} dead, {} slots)", info.slots)?;
    for p in &parts {
        let state = if p.alive { "alive" } else { "dead" };
        writeln!(
            out,
            "  slot {:<4} gen {:<6} pid {:<8} {:<18} {state}",
            p.id.slot,
            p.id.generation,
            p.pid,
            p.role.as_str()
        )?;
    }
    writeln!(out, "state")?;
    if let Some(p) = &body.problem {
        kv(&mut out, "problem", p.clone())?;
    }
    for (k, v) in &body.fields {
        kv(&mut out, k, v.to_string())?;
    }
    if body.fields.is_empty() && body.problem.is_none() {
        writeln!(out, "  (no state shmkit decodes for this kind)")?;
    }
    Ok(())
}

fn rm(names: &[String], force: bool) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for name in names {
        match rm_one(name, force) {
            Ok(msg) => println!("{msg}"),
            Err(Failure(msg)) => {
                eprintln!("shmkit: {msg}");
                failed.push(name.as_str());
            }
        }
    }
    match failed.len() {
        0 => Ok(()),
        n => Err(Failure(format!("{n} of {} not removed: {}", names.len(), failed.join(", ")))),
    }
}

fn rm_one(name: &str, force: bool) -> Result<String, Failure> {
    let e = open_one(name)?;
    if !e.listing.is_ours() && !force {
        return Err(Failure(format!(
            "not removing {name:?}: it belongs to another user (uid {}); add --force to remove it anyway",
            e.listing.uid
        )));
    }
    match &e.object {
        Ok(obj) => {
            let (alive, _) = counts(&obj.participants());
            obj.unlink()?;
            Ok(match alive {
                0 => format!("removed {name}"),
                1 => format!("removed {name} (1 live process still attached keeps using it)"),
                n => format!("removed {name} ({n} live processes still attached keep using it)"),
            })
        }
        Err(err) if force => {
            segment::unlink(name)?;
            Ok(format!("removed {name} (forced: {err})"))
        }
        Err(OpenError::NotReady { .. } | OpenError::CreatorDied) => {
            segment::unlink(name)?;
            Ok(format!("removed {name} (it never became ready)"))
        }
        Err(err) => Err(Failure(format!("not removing {name:?}: {err}; add --force to remove it anyway"))),
    }
}

/// What `gc` does with one object, and why.
enum Verdict {
    Remove(String),
    Keep(String),
}

fn gc(dry_run: bool, grace: f64, prefix: Option<&str>) -> Result<(), Failure> {
    let grace =
        Duration::try_from_secs_f64(grace).map_err(|_| "--grace takes a number of seconds, 0 or more")?;
    let verb = if dry_run { "would remove" } else { "removed" };
    let (mut removed, mut kept) = (0, 0);
    let listing = segment::list().map_err(|e| format!("cannot read /dev/shm ({e}): is it mounted?"))?;
    let wanted = |l: &segment::Listing| prefix.is_none_or(|p| l.name.as_str().starts_with(p));
    for listing in listing.into_iter().filter(wanted) {
        let name = listing.name.as_str().to_owned();
        let verdict = judge(listing, dry_run, grace);
        match verdict {
            Ok(Verdict::Remove(why)) => {
                removed += 1;
                println!("{verb} {name} ({why})");
            }
            Ok(Verdict::Keep(why)) => {
                kept += 1;
                if dry_run {
                    println!("would keep {name} ({why})");
                }
            }
            Err(Failure(msg)) => {
                kept += 1;
                eprintln!("shmkit: could not remove {name}: {msg}");
            }
        }
    }
    println!("{verb} {removed} object{}, kept {kept}", if removed == 1 { "" } else { "s" });
    Ok(())
}

/// Whether `gc` removes the object of `listing` (and removes it unless `dry_run`). Only
/// our own user's objects are ever removed: another user's are theirs to clean up, even
/// for root.
fn judge(listing: segment::Listing, dry_run: bool, grace: Duration) -> Result<Verdict, Failure> {
    let another_user = |uid: u32| Verdict::Keep(format!("it belongs to another user, uid {uid}"));
    if !listing.is_ours() {
        return Ok(another_user(listing.uid));
    }
    let e = Entry::load(listing);
    let name = e.name();
    match &e.object {
        Ok(obj) => {
            // The name may have changed hands since it was listed: ask the file we read,
            // which is also the only one `unlink` removes.
            let owner = obj.segment().owner_uid()?;
            if owner != e.listing.uid {
                return Ok(another_user(owner));
            }
            if let Some(why) = shmkit_dict::keep_generation(obj) {
                return Ok(Verdict::Keep(why));
            }
            if obj.has_live_participants() {
                let live = counts(&obj.participants()).0;
                return Ok(Verdict::Keep(format!("in use: {live} live participant(s)")));
            }
            if !dry_run {
                obj.unlink()?;
            }
            Ok(Verdict::Remove(format!(
                "{}, no live participant",
                shmkit_core::Kind::describe(obj.info().kind)
            )))
        }
        Err(OpenError::NotReady { .. } | OpenError::CreatorDied) => match Object::abandoned(name, grace) {
            Ok(true) => {
                if !dry_run {
                    segment::unlink(name)?;
                }
                Ok(Verdict::Remove("never became ready, its creator is gone".to_owned()))
            }
            Ok(false) => {
                Ok(Verdict::Keep("not ready yet: its creator may still be setting it up".to_owned()))
            }
            Err(err) => Ok(Verdict::Keep(short_error(&err))),
        },
        // Not ours to judge: another format version, corrupt, not a shmkit object.
        Err(err) => Ok(Verdict::Keep(format!("{}; `shmkit rm --force` removes it", short_error(err)))),
    }
}

/// Without the `bench` feature the suite and its peers are not linked: say how to get it.
#[cfg(not(feature = "bench"))]
fn bench(
    _quick: bool,
    _chart: Option<std::path::PathBuf>,
    _rounds: usize,
    _filter: Option<String>,
) -> Result<(), Failure> {
    Err(Failure(
        "this shmkit was built without the benchmark suite: install it with `--features bench` \
         (in a checkout of shmkit: `cargo install --path crates/cli --features bench`), \
         or run the suite there with `cargo bench -p shmkit-bench --bench ipc`"
            .into(),
    ))
}

#[cfg(feature = "bench")]
fn bench(
    quick: bool,
    chart: Option<std::path::PathBuf>,
    rounds: usize,
    filter: Option<String>,
) -> Result<(), Failure> {
    let opts = shmkit_bench::Options { quick, filter, chart, rounds };
    let report = shmkit_bench::run(&opts);
    if report.rows().is_empty() {
        return Err(Failure(format!(
            "no benchmark row matches {:?}: run `shmkit bench --quick` for the whole list",
            opts.filter.unwrap_or_default()
        )));
    }
    report.print(&mut std::io::stdout().lock())?;
    if let Some(path) = &opts.chart {
        if !report.has_sweep() {
            return Err(Failure("no payload-sweep rows ran, so there is no chart: drop the filter".into()));
        }
        report.write_chart(path).map_err(|e| format!("cannot write the chart to {}: {e}", path.display()))?;
        eprintln!("chart: {}", path.display());
    }
    Ok(())
}
