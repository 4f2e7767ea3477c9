//! File attributes as SFTP v3 carries them: from metadata to the wire, `ls -l` long names,
//! and the rules on what a client may set.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_std::fs::MetadataExt;
use russh_sftp::protocol::{FileAttributes, StatusCode};
use serde_json::json;

use super::ops::Fail;

/// Changing the owner is refused (files on shared storage belong to the service user); a
/// setstat that repeats the current owner, as some clients send, is accepted.
pub fn check_owner(attrs: &FileAttributes, uid: u32, gid: u32) -> Result<(), Fail> {
    if attrs.uid.is_some_and(|u| u != uid) || attrs.gid.is_some_and(|g| g != gid) {
        return Err(Fail(
            StatusCode::PermissionDenied,
            "changing the owner is not allowed".into(),
        ));
    }
    Ok(())
}

pub fn unix_time(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.into())
}

pub fn attrs_json(a: &FileAttributes) -> serde_json::Value {
    json!({
        "size": a.size,
        "mode": a.permissions.map(|p| format!("{:o}", p & 0o7777)),
        "atime": a.atime,
        "mtime": a.mtime,
    })
}

fn clamp_time(secs: i64) -> u32 {
    secs.clamp(0, u32::MAX as i64) as u32
}

pub fn attributes(meta: &cap_std::fs::Metadata) -> FileAttributes {
    FileAttributes {
        size: Some(meta.size()),
        uid: Some(meta.uid()),
        user: None,
        gid: Some(meta.gid()),
        group: None,
        permissions: Some(meta.mode()),
        atime: Some(clamp_time(meta.atime())),
        mtime: Some(clamp_time(meta.mtime())),
    }
}

/// The `ls -l` line OpenSSH's sftp prints for a directory entry.
pub fn long_name(name: &str, meta: &cap_std::fs::Metadata, now: SystemTime) -> String {
    let mode = meta.mode();
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut perms = String::with_capacity(10);
    perms.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let mtime = clamp_time(meta.mtime()) as u64;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let recent = mtime + 182 * 86400 > now_secs && mtime <= now_secs + 86400;
    let date = format_ls_date(mtime, recent);
    format!(
        "{perms} {:>3} {:<8} {:<8} {:>8} {date} {name}",
        meta.nlink(),
        meta.uid(),
        meta.gid(),
        meta.size()
    )
}

fn format_ls_date(secs: u64, recent: bool) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let stamp = crate::node::audit::format_rfc3339(secs, 0);
    // "YYYY-MM-DDTHH:MM:SS.mmmZ"
    let year = &stamp[0..4];
    let month: usize = stamp[5..7].parse().unwrap_or(1);
    let day: u32 = stamp[8..10].parse().unwrap_or(1);
    let month = MONTHS[(month - 1).min(11)];
    if recent {
        format!("{month} {day:>2} {}", &stamp[11..16])
    } else {
        format!("{month} {day:>2}  {year}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_dates() {
        assert_eq!(format_ls_date(1_795_000_000, true), "Nov 18 11:06");
        assert_eq!(format_ls_date(0, false), "Jan  1  1970");
    }
}
