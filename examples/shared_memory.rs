//! The Python tutorial's "shared memory": a Value and two Arrays created in the parent,
//! written by a child process, read back in the parent: `obj.value`, indexing, iteration,
//! and a byte array's `.value`.
//!
//! ```text
//! cargo run --example shared_memory
//! ```
//!
//! Python:
//!
//! ```python
//! from multiprocessing import Value, Array
//! money = Value('i', 2000)
//! arr = Array('i', 5)              # an integer: that many zeros
//! msg = Array('c', b'hello')
//! # in a child: money.value += 1000; arr[i] = i * i; msg.value = b'world'
//! print(money.value, list(arr), msg.value)
//! ```

mod common;

use common::{spawn_self, unique};
use shmkit::segment::UnlinkGuard;
use shmkit::{Array, CChar, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let base = &args[2];
        let money = Value::<i32>::open(&format!("{base}-money"))?;
        let arr = Array::<i32>::open(&format!("{base}-arr"))?;
        let msg = Array::<CChar>::open(&format!("{base}-msg"))?;
        for _ in 0..10 {
            // `with money.get_lock(): money.value += 100`
            money.get_lock().map_err(|e| e.to_string())?.update(|m| m + 100);
        }
        for i in 0..arr.len() {
            arr.set(i, (i * i) as i32)?;
        }
        msg.set_value(b"world")?;
        println!("child {}: done writing", std::process::id());
        return Ok(());
    }

    let base = unique("shared-memory");
    let money = Value::<i32>::create(&format!("{base}-money"), 2000)?;
    let arr = Array::<i32>::create_zeroed(&format!("{base}-arr"), 5)?;
    let msg = Array::<CChar>::create_bytes(&format!("{base}-msg"), b"hello")?;
    let _cleanup = ["money", "arr", "msg"].map(|n| UnlinkGuard::new(&format!("{base}-{n}")));
    println!("parent before: money {}, arr {:?}, msg {:?}", money.load(), arr.to_vec(), bytes(&msg));
    let status = spawn_self(&["child", &base])?.wait()?;
    if !status.success() {
        return Err(format!("the child failed: {status}").into());
    }
    println!("parent after:  money {}, arr {:?}, msg {:?}", money.load(), arr.to_vec(), bytes(&msg));
    Ok(())
}

fn bytes(msg: &Array<CChar>) -> String {
    String::from_utf8_lossy(&msg.value()).into_owned()
}
