//! The workload: clients logging in through the gateway and uploading files with content
//! each client can recompute, through the fault; then every completed upload read back
//! through two nodes and compared, byte for byte, and the run's files cleaned up.

use super::*;

/// Deterministic content for one upload: different for every client and sequence number.
pub(super) fn content(client: usize, seq: u64, len: usize) -> Vec<u8> {
    let mut state =
        (client as u64 + 1).wrapping_mul(0x9e3779b97f4a7c15) ^ seq.wrapping_mul(0xbf58476d1ce4e5b9);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn worker(
    id: usize,
    target: Arc<Target>,
    run_dir: String,
    file_size: usize,
    tally: Arc<Tally>,
    fault_at_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    run_start: Instant,
) {
    let mine = format!("{run_dir}/c{id}");
    let mut seq = 0u64;
    let mut last_upload: Option<Uploaded> = None;
    while !stop.load(Relaxed) {
        let login_start_ms = run_start.elapsed().as_millis() as u64;
        tally.logins.fetch_add(1, Relaxed);
        let session = match client::login(
            target.gateway,
            &target.user,
            target.key.clone(),
            &target.fingerprint,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                // Under way when the fault hit: begun before the injection was done (the
                // fault lands somewhere within it), failed after it began.
                let fault_ms = fault_at_ms.load(Relaxed);
                let injected_ms = match tally.injected_ms.load(Relaxed) {
                    0 => u64::MAX,
                    ms => ms - 1,
                };
                if login_start_ms < injected_ms.max(fault_ms)
                    && fault_ms != u64::MAX
                    && run_start.elapsed().as_millis() as u64 >= fault_ms
                {
                    tally.interrupted_logins.fetch_add(1, Relaxed);
                } else {
                    tally.failed_logins.fetch_add(1, Relaxed);
                }
                tally.error(format!(
                    "client {id}: login begun at {login_start_ms} ms failed: {e}"
                ));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if login_start_ms >= fault_at_ms.load(Relaxed) {
            let mut first = tally
                .first_login_after_fault_ms
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let done = run_start.elapsed().as_millis() as u64;
            if first.is_none_or(|f| done < f) {
                *first = Some(done);
            }
        }
        // Upload a new file, read back the one of the previous session (likely written
        // through another node), list.
        let previous = last_upload.take();
        let path = format!("{mine}/f{seq:06}.bin");
        let data = content(id, seq, file_size);
        seq += 1;
        tally.ops.fetch_add(1, Relaxed);
        match session.upload(&path, &data).await {
            Ok(()) => {
                let up = Uploaded {
                    path,
                    sha256: Sha256::digest(&data).into(),
                    len: data.len(),
                };
                tally
                    .uploads
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(up.clone());
                last_upload = Some(up);
            }
            Err(e) => {
                tally.op_failed(format!("client {id}: upload {path} failed: {e}"));
                last_upload = previous;
                continue;
            }
        }
        if let Some(prev) = &previous {
            tally.ops.fetch_add(1, Relaxed);
            match session.download(&prev.path).await {
                Ok(back) => {
                    if Sha256::digest(&back).as_slice() != prev.sha256 {
                        tally.corrupt.fetch_add(1, Relaxed);
                        tally.error(format!("client {id}: {} read back different", prev.path));
                    }
                }
                Err(e) => {
                    tally.op_failed(format!("client {id}: download {} failed: {e}", prev.path));
                    continue;
                }
            }
        }
        tally.ops.fetch_add(1, Relaxed);
        if let Err(e) = session.list(&mine).await {
            tally.op_failed(format!("client {id}: list failed: {e}"));
            continue;
        }
        session.close().await;
    }
}

pub(super) async fn verify(
    target: &Target,
    run_dir: &str,
    clients: usize,
    file_size: usize,
    uploads: &[Uploaded],
    observed: &mut Observed,
    tally: &Tally,
) {
    // Read every file through two different nodes: at least one did not write it.
    let mut readers = Vec::new();
    for (name, addr, _) in &target.nodes {
        match client::login(*addr, &target.user, target.key.clone(), &target.fingerprint).await {
            Ok(s) => readers.push((name.clone(), s)),
            Err(e) => tally.error(format!("verify: cannot log into {name} directly: {e}")),
        }
    }
    if readers.is_empty() {
        observed.lost_files = uploads.len() as u64;
        return;
    }
    for (i, up) in uploads.iter().enumerate() {
        let picks = [i % readers.len(), (i + 1) % readers.len()];
        let picks: &[usize] = if readers.len() > 1 {
            &picks
        } else {
            &picks[..1]
        };
        let mut found = false;
        for &p in picks {
            match readers[p].1.download(&up.path).await {
                Ok(data) => {
                    found = true;
                    if data.len() == up.len && Sha256::digest(&data).as_slice() == up.sha256 {
                        observed.bytes_verified += data.len() as u64;
                    } else {
                        observed.corrupt_files += 1;
                        tally.error(format!(
                            "verify: {} differs through {}",
                            up.path, readers[p].0
                        ));
                    }
                }
                Err(e) => tally.error(format!("verify: {} through {}: {e}", up.path, readers[p].0)),
            }
        }
        if !found {
            observed.lost_files += 1;
        }
    }
    // Nothing visible that no client completed.
    let completed: HashMap<&str, ()> = uploads.iter().map(|u| (u.path.as_str(), ())).collect();
    for c in 0..clients {
        let dir = format!("{run_dir}/c{c}");
        match readers[0].1.list(&dir).await {
            Ok(names) => {
                for name in names {
                    let path = format!("{dir}/{name}");
                    if completed.contains_key(path.as_str()) {
                        continue;
                    }
                    // No client saw this upload complete. Intact (the node finished it after the
                    // client gave up), or partial?
                    let expected = name
                        .strip_prefix('f')
                        .and_then(|n| n.strip_suffix(".bin"))
                        .and_then(|n| n.parse::<u64>().ok())
                        .map(|seq| content(c, seq, file_size));
                    let intact = match (expected, readers[0].1.download(&path).await) {
                        (Some(want), Ok(got)) => want == got,
                        _ => false,
                    };
                    if intact {
                        observed.late_commits += 1;
                    } else {
                        observed.partial_files_visible += 1;
                        tally.error(format!("verify: {path} is visible, no client completed it, and it is not the whole file"));
                    }
                }
            }
            Err(e) => tally.error(format!("verify: list {dir}: {e}")),
        }
    }
    for (_, s) in readers {
        s.close().await;
    }
    // Temporary files of uploads that never completed must be gone from the storage too,
    // once the nodes have seen their clients go: a node cut off from its clients learns it
    // when their retransmitted FINs get through after the partition, seconds later.
    let deadline = Instant::now() + TEMP_GRACE;
    loop {
        observed.temporary_files_left = temporary_files(&target.temp, run_dir, tally).await;
        if observed.temporary_files_left == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How long the run waits for abandoned uploads' temporary files to go.
const TEMP_GRACE: Duration = Duration::from_secs(20);

/// The node's temporary upload files left in the run's folder of the user's home.
async fn temporary_files(temp: &TempFiles, run_dir: &str, tally: &Tally) -> u64 {
    let run_dir = run_dir.trim_start_matches('/');
    match temp {
        TempFiles::Local(home) => count_temporary(&home.join(run_dir)) as u64,
        TempFiles::Remote { access, host, home } => {
            let dir = format!("{home}/{run_dir}");
            let listed = async {
                let remote = access.connect(host).await.map_err(|e| e.to_string())?;
                let out = remote
                    .exec(
                        "list the run's temporary files",
                        &format!(
                            "find {} -name '.*' -type f 2>/dev/null; true",
                            crate::ssh::remote::quote(&dir)
                        ),
                        None,
                        None,
                    )
                    .await;
                remote.close().await;
                out.map(|o| o.stdout_text()).map_err(|e| e.to_string())
            };
            match listed.await {
                Ok(text) => text
                    .lines()
                    .filter_map(|l| l.rsplit('/').next())
                    .filter(|name| crate::node::jail::is_temp_name(std::ffi::OsStr::new(name)))
                    .count() as u64,
                Err(e) => {
                    tally.error(format!("verify: could not list {dir} on {host}: {e}"));
                    0
                }
            }
        }
    }
}

pub(super) fn count_temporary(dir: &std::path::Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) if crate::node::jail::is_temp_name(&e.file_name()) => count += 1,
                _ => {}
            }
        }
    }
    count
}

pub(super) async fn cleanup(target: &Target, run_dir: &str) {
    if let Ok(s) = client::login(
        target.gateway,
        &target.user,
        target.key.clone(),
        &target.fingerprint,
    )
    .await
    {
        if let Err(e) = s.remove_tree(run_dir).await {
            tracing::warn!("could not remove {run_dir}: {e}");
        }
        s.close().await;
    }
}
