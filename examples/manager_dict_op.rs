//! The Python tutorial's "sharing resources between processes: manager": three processes
//! each set `m_dict[1] = 'dict in op'` and append their pid to a shared list; the parent
//! prints both.
//!
//! ```text
//! cargo run --release --example manager_dict_op
//! ```
//!
//! Python:
//!
//! ```python
//! def op(test_dic, test_list):
//!     test_dic[1] = 'dict in op'
//!     test_list.append(os.getpid())
//!     print('finish op ...')
//!
//! if __name__ == '__main__':
//!     m = multiprocessing.Manager()
//!     m_dict = m.dict()           # a dict shared between processes
//!     m_list = m.list()           # a list shared between processes
//!     for i in range(3):
//!         p = multiprocessing.Process(target=op, args=(m_dict, m_list,))
//!         p.start()
//!     time.sleep(5)
//!     print(m_dict)
//!     print(m_list)
//! ```
//!
//! The parent joins the three processes instead of sleeping five seconds. The dict and the
//! list are anonymous: the children inherit them (fork), with no manager process.

use shmkit::{Dict, List, Process};

fn op(test_dic: &Dict<u32, String>, test_list: &List<u32>) -> Result<(), shmkit::DictError> {
    test_dic.insert(1, "dict in op".to_string())?;
    test_list.append(&std::process::id())?;
    println!("finish op ...");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m_dict: Dict<u32, String> = Dict::anonymous()?;
    let m_list: List<u32> = List::anonymous()?;
    let mut ps = Vec::new();
    for _ in 0..3 {
        let (d, l) = (m_dict.try_clone()?, m_list.try_clone()?);
        let mut p = Process::new(move || {
            if let Err(e) = op(&d, &l) {
                panic!("op failed: {e}");
            }
        });
        p.start()?;
        ps.push(p);
    }
    for mut p in ps {
        if p.join()? != 0 {
            return Err(format!("{} failed: {:?}", p.get_name(), p.panic_message()).into());
        }
    }
    let items: Vec<String> = m_dict.items()?.iter().map(|(k, v)| format!("{k}: '{v}'")).collect();
    println!("{{{}}}", items.join(", "));
    println!("{:?}", m_list.to_vec()?);
    Ok(())
}
