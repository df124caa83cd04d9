//! Your own `#[repr(C)]` struct in a named queue, shared by two programs built
//! separately: the type's identity in the object's header is its name without module
//! path, its size, alignment and type code — not a string that changes with the compiler
//! or with where the struct lives in each program.
//!
//! ```text
//! cargo run --example own_struct_across_builds            # both sides, in two processes
//! cargo run --example own_struct_across_builds create NAME  # one build makes and fills it
//! cargo run --example own_struct_across_builds open NAME    # another build reads it
//! ```
//!
//! CI builds this program twice, the second time with the struct in another module and
//! other compiler flags, and has one build create what the other opens.

mod common;

use common::{spawn_self, unique};
use shmkit::segment::UnlinkGuard;
use shmkit::Queue;

/// The struct, where this build keeps it.
#[cfg(not(shmkit_alt_module))]
mod ticks {
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, shmkit::Pod, shmkit::Zeroable)]
    pub struct Tick {
        pub seq: u64,
        pub price: f64,
    }
}

/// The same struct, where the other build keeps it.
#[cfg(shmkit_alt_module)]
mod ticks {
    pub use self::feed::v2::Tick;

    pub mod feed {
        pub mod v2 {
            #[repr(C)]
            #[derive(Clone, Copy, Debug, PartialEq, shmkit::Pod, shmkit::Zeroable)]
            pub struct Tick {
                pub seq: u64,
                pub price: f64,
            }
        }
    }
}

use ticks::Tick;

fn create(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::<Tick>::create(name, 16)?;
    for seq in 0..3 {
        q.put(Tick { seq, price: 100.0 + seq as f64 / 4.0 })?;
    }
    println!("created {name} holding 3 ticks");
    Ok(())
}

fn open(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let _unlink = UnlinkGuard::new(name);
    let q = Queue::<Tick>::open(name)?;
    let got: Vec<Tick> = (0..3).map(|_| q.get()).collect::<Result<_, _>>()?;
    println!("opened {name}: {got:?}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("create"), Some(name)) => create(name),
        (Some("open"), Some(name)) => open(name),
        _ => {
            let name = unique("ticks");
            create(&name)?;
            let status = spawn_self(&["open", &name])?.wait()?;
            if !status.success() {
                let _ = shmkit::segment::unlink(&name);
                return Err(format!("the reading program failed: {status}").into());
            }
            Ok(())
        }
    }
}
