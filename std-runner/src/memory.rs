//! Memory a training run needs, known before anything large is allocated, and the memory
//! this process may actually use.
//!
//! With overcommit, many small allocations succeed and the kernel's OOM killer ends the
//! process later (exit 137, no message), which no `try_reserve` can catch. So the trainer
//! first adds up every buffer it will hold, from the core's size functions, and compares the
//! sum with the smallest of: `MemAvailable` (/proc/meminfo), the cgroup's limit minus its
//! usage (v2 `memory.max`/`memory.current`, v1 `memory.limit_in_bytes`/`usage_in_bytes`),
//! and the address-space limit (`RLIMIT_AS`, /proc/self/limits) minus this process's
//! `VmSize`. Then every large buffer is allocated with [`zeros`] (`try_reserve_exact`), so a
//! refusal that slips through is an error, never an abort.
//!
//! The footprint of `train`, in bytes (P parameters, S shards of up to `shard` samples, k
//! optimizer state slots per parameter: 0 SGD, 1 momentum/RMSprop/Adagrad, 2 Adam):
//!
//! ```text
//! 4 * ( P * (4 + S + k)                         parameters, best and overall-best copies,
//!                                               combined gradient; one gradient per shard; state
//!     + S * workspace_len(shard)                activations and deltas per shard
//!     + S * shard * (inputs + outputs) )        gathered inputs and targets per shard
//! + 8 * P * (3 + k)                              while a checkpoint is written: its copies, then its encoding
//! ```

use crate::error::{Error, Result};
use myelin_core::Topology;

/// One named part of a footprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// What the bytes hold.
    pub what: &'static str,
    /// Bytes.
    pub bytes: u64,
}

/// The memory a run will allocate, part by part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The parts.
    pub parts: Vec<Part>,
}

fn f32s(n: u128) -> u64 {
    u64::try_from(n.saturating_mul(4)).unwrap_or(u64::MAX)
}

impl Footprint {
    /// The training footprint of `topo` with batches of `batch` samples cut into `shard`-sample
    /// shards and `state_slots` optimizer values per parameter (the formula in the module docs).
    pub fn training(topo: &Topology, batch: usize, shard: usize, state_slots: usize) -> Footprint {
        let p = topo.params_len() as u128;
        let shard = shard.clamp(1, batch.max(1));
        let shards = batch.max(1).div_ceil(shard) as u128;
        // A workspace too large to express is as good as infinite.
        let work = topo.workspace_len(shard).map_or(u128::MAX, |w| w as u128);
        let io = (shard as u128).saturating_mul((topo.inputs() + topo.outputs()) as u128);
        let k = state_slots as u128;
        Footprint {
            parts: vec![
                Part { what: "parameters (current, best, overall best, combined gradient)", bytes: f32s(4 * p) },
                Part { what: "one gradient per shard", bytes: f32s(shards.saturating_mul(p)) },
                Part { what: "optimizer state", bytes: f32s(k * p) },
                Part { what: "activations and deltas per shard", bytes: f32s(shards.saturating_mul(work)) },
                Part { what: "gathered inputs and targets per shard", bytes: f32s(shards.saturating_mul(io)) },
                Part { what: "checkpoint (copies, then their encoding)", bytes: f32s(2 * (3 + k) * p) },
            ],
        }
    }

    /// The sum of the parts.
    pub fn total(&self) -> u64 {
        self.parts.iter().fold(0u64, |a, p| a.saturating_add(p.bytes))
    }

    /// The parts, one per line, largest first.
    pub fn describe(&self) -> String {
        let mut parts = self.parts.clone();
        parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
        parts.iter().map(|p| format!("  {:>12}  {}", human(p.bytes), p.what)).collect::<Vec<_>>().join("\n")
    }

    /// An error if the footprint exceeds the memory this process may use (see
    /// [`available`]); `what` names the run and `advice` what to change.
    pub fn check(&self, what: &str, advice: &str) -> Result<()> {
        let need = self.total();
        match available() {
            Some(avail) if need > avail => Err(Error::Memory {
                need,
                available: avail,
                detail: format!("{what} needs {}:\n{}", human(need), self.describe()),
                advice: advice.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

pub use crate::error::human_bytes as human;

/// The memory this process may still allocate: the smallest of the available figures (module
/// docs); `None` where none can be read (not Linux).
pub fn available() -> Option<u64> {
    [mem_available(), cgroup_room(), address_space_room()].into_iter().flatten().min()
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `MemAvailable` from /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let s = read("/proc/meminfo")?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The cgroup's limit minus its usage (v2, then v1); `None` when unlimited or unknown.
fn cgroup_room() -> Option<u64> {
    let num = |p: &str| read(p).and_then(|s| s.trim().parse::<u64>().ok());
    // The process's own cgroup (v2: one line "0::/path").
    let rel = read("/proc/self/cgroup")
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("0::").map(str::to_string)))
        .unwrap_or_default();
    let v2 = format!("/sys/fs/cgroup{}", rel.trim_end_matches('/'));
    for dir in [v2.as_str(), "/sys/fs/cgroup"] {
        if let (Some(max), Some(cur)) = (num(&format!("{dir}/memory.max")), num(&format!("{dir}/memory.current"))) {
            return Some(max.saturating_sub(cur));
        }
    }
    let limit = num("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
    // v1 reports "unlimited" as a huge number.
    if limit >= 1 << 60 {
        return None;
    }
    Some(limit.saturating_sub(num("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0)))
}

/// `RLIMIT_AS` minus this process's `VmSize`; `None` when unlimited.
fn address_space_room() -> Option<u64> {
    let limits = read("/proc/self/limits")?;
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    let soft: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    let status = read("/proc/self/status")?;
    let kib: u64 = status.lines().find(|l| l.starts_with("VmSize:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(soft.saturating_sub(kib.saturating_mul(1024)))
}

/// `n` zeros, or an error naming `what` if the allocation is refused (never an abort).
pub fn zeros(n: usize, what: &'static str) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::Memory {
        need: f32s(n as u128),
        available: available().unwrap_or(0),
        detail: format!("allocating {what} ({} floats) failed", n),
        advice: "use a smaller network, batch or --shard, or fewer --threads".into(),
    })?;
    v.resize(n, 0.0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_core::{Activation, Loss};

    #[test]
    fn footprint_follows_the_formula() {
        let topo = Topology::dense(&[784, 128, 10], Activation::Relu, Activation::Softmax, Loss::CrossEntropy).unwrap();
        let p = topo.params_len() as u64;
        let f = Footprint::training(&topo, 100, 32, 2);
        let work = topo.workspace_len(32).unwrap() as u64;
        let want = 4 * (p * (4 + 4 + 2) + 4 * work + 4 * 32 * (784 + 10)) + 8 * p * 5;
        assert_eq!(f.total(), want);
        // Sizes beyond any machine saturate instead of wrapping.
        let huge =
            Topology::dense(&[784, 100_000, 100_000, 10], Activation::Relu, Activation::Softmax, Loss::CrossEntropy)
                .unwrap();
        assert!(Footprint::training(&huge, usize::MAX, usize::MAX, 2).total() > 40_000_000_000);
    }

    #[test]
    fn available_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let a = available().expect("MemAvailable is always there on Linux");
            assert!(a > 0);
        }
    }

    #[test]
    fn human_units() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(40_030_400_040), "37.3 GiB");
    }
}
