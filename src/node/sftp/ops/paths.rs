//! The requests on names rather than open files: attributes (stat, setstat, truncation),
//! directories (opendir, readdir, mkdir, rmdir), remove, rename, links, realpath and the
//! extensions. Same session, same jail, same rules as the file requests in the parent.

use super::*;

impl Session {
    pub(super) fn stat(&mut self, id: u32, path: &str, follow: bool) -> Reply {
        let path = self.path(path)?;
        let meta = match self.pending.get(&path) {
            Some(pending) => pending.metadata()?,
            None if follow => self.jail.metadata(&path)?,
            None => self.jail.symlink_metadata(&path)?,
        };
        encode(Packet::Attrs(Attrs {
            id,
            attrs: attributes(&meta),
        }))
    }

    pub(super) fn fstat(&mut self, id: u32, handle: &str) -> Reply {
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let attrs = match self.handles.get(&key) {
            Some(Handle::File(f)) => attributes(&cap_std::fs::Metadata::from_just_metadata(
                f.file.metadata()?,
            )),
            Some(Handle::Dir(d)) => attributes(&self.jail.metadata(&d.path)?),
            None => return Err(Fail::no_handle()),
        };
        encode(Packet::Attrs(Attrs { id, attrs }))
    }

    pub(super) fn setstat(
        &mut self,
        id: u32,
        path: &str,
        attrs: &FileAttributes,
        follow: bool,
    ) -> Reply {
        self.allow(Permission::Write)?;
        let path = self.path(path)?;
        if let Some(pending) = self.pending.get(&path) {
            // The session's own upload: its changes go to the file being written.
            let file = pending.reopen(false, false)?;
            set_on_file(&file, attrs)?;
        } else {
            let meta = if follow {
                self.jail.metadata(&path)?
            } else {
                self.jail.symlink_metadata(&path)?
            };
            check_owner(attrs, meta.uid(), meta.gid())?;
            if let Some(size) = attrs.size {
                if meta.is_dir() {
                    return Err(Fail::failure("is a directory"));
                }
                if self.atomic() {
                    self.truncate_atomically(&path, size)?;
                } else {
                    let file = self.jail.open_file(&path, OpenOptions::new().write(true))?;
                    file.set_len(size)?;
                }
            }
            if let Some(mode) = attrs.permissions {
                if meta.is_symlink() {
                    return Err(Fail(
                        StatusCode::OpUnsupported,
                        "symlinks have no mode of their own".into(),
                    ));
                }
                self.jail.set_mode(&path, mode)?;
            }
            if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
                if follow {
                    self.jail.set_times(&path, atime, mtime)?;
                } else {
                    use cap_fs_ext::DirExt;
                    self.jail.root().set_symlink_times(
                        path.rel(),
                        Some(jail::time_spec(atime)),
                        Some(jail::time_spec(mtime)),
                    )?;
                }
            }
        }
        self.audit(
            "setstat",
            json!({"path": path.display(), "attrs": attrs_json(attrs)}),
        );
        ok(id)
    }

    /// A truncate (or extension) of a published file in atomic mode: the first `size` bytes
    /// are copied to a temporary file that replaces the file, so readers see the old whole
    /// file or the new one, never a file changed in place.
    pub(super) fn truncate_atomically(&mut self, path: &JailPath, size: u64) -> Result<(), Fail> {
        let current = self
            .jail
            .open_file(path, OpenOptions::new().read(true))?
            .into_std();
        let meta = current.metadata()?;
        if !meta.is_file() {
            return Err(Fail::failure("not a regular file"));
        }
        let meta = cap_std::fs::Metadata::from_just_metadata(meta);
        refuse_hard_linked(&meta)?;
        let Some(fds) = self.ctx.shared.fds.take(limits::FDS_UPLOAD) else {
            return Err(Fail::failure(
                "the server has no file handles to spare right now: try again",
            ));
        };
        let (parent, final_name) = self.jail.parent_of(path)?;
        let final_name = final_name.to_owned();
        let (unique, temp, noted) = self.new_temp(path, &parent, &final_name);
        let file = upload::create_temp(&parent, &temp, 0o600, false, false)?;
        let mut pending = Pending::new(
            unique,
            parent,
            temp,
            final_name,
            false,
            Kind::Edit,
            self.ctx.shared.metrics.clone(),
            fds,
        );
        pending.journal = noted;
        file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o777))?;
        pending.based_on = Some(upload::Version::of(&meta));
        upload::copy_into(&current, &file, Some(size))?;
        file.set_len(size)?;
        if self.ctx.shared.config.file.fsync_uploads {
            file.sync_all()?;
        }
        pending.commit()?;
        Ok(())
    }

    pub(super) fn fsetstat(&mut self, id: u32, handle: &str, attrs: &FileAttributes) -> Reply {
        self.allow(Permission::Write)?;
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let path = match self.handles.get(&key) {
            Some(Handle::File(f)) => {
                let meta = f.file.metadata()?;
                check_owner(
                    attrs,
                    std::os::unix::fs::MetadataExt::uid(&meta),
                    std::os::unix::fs::MetadataExt::gid(&meta),
                )?;
                if attrs.size.is_some() && self.atomic() && f.upload.is_none() {
                    return Err(Fail::failure(
                        "the handle is not open for writing: truncate the file by its path",
                    ));
                }
                set_on_file(&f.file, attrs)?;
                f.path.clone()
            }
            Some(Handle::Dir(d)) => {
                let path = d.path.clone();
                return self.setstat(id, &path.display(), attrs, true);
            }
            None => return Err(Fail::no_handle()),
        };
        self.audit(
            "setstat",
            json!({"path": path.display(), "attrs": attrs_json(attrs)}),
        );
        ok(id)
    }

    pub(super) fn opendir(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::List)?;
        let path = self.path(path)?;
        let slot = self.handle_slot(limits::FDS_DIR)?;
        let entries = self.jail.open_dir(&path)?.entries()?;
        self.add_handle(
            Handle::Dir(DirHandle {
                entries,
                path,
                listed_pending: HashSet::new(),
                done: false,
                _slot: slot,
            }),
            id,
        )
    }

    pub(super) fn readdir(&mut self, id: u32, handle: &str) -> Reply {
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let Some(Handle::Dir(dir)) = self.handles.get_mut(&key) else {
            return Err(Fail::no_handle());
        };
        let now = SystemTime::now();
        let mut files = Vec::new();
        let push = |files: &mut Vec<NameEntry>, name: &OsString, meta: &cap_std::fs::Metadata| {
            let filename = name.to_string_lossy().into_owned();
            let longname = long_name(&filename, meta, now);
            files.push(NameEntry {
                filename,
                longname,
                attrs: attributes(meta),
            });
        };
        let size = |files: &Vec<NameEntry>| -> usize {
            files
                .iter()
                .map(|f| f.filename.len() + f.longname.len() + 64)
                .sum()
        };
        while !dir.done && files.len() < READDIR_BATCH && size(&files) < MAX_PACKET / 2 {
            let Some(entry) = dir.entries.next() else {
                dir.done = true;
                break;
            };
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            if jail::is_temp_name(&name) {
                continue;
            }
            // This session's own upload shows as it is being written.
            let own = self.pending.get(&dir.path.join(&name));
            let meta = match own {
                Some(pending) => {
                    dir.listed_pending.insert(name.clone());
                    pending.metadata()
                }
                // Entries can vanish between listing and stat (another node removed them).
                None => entry.metadata(),
            };
            let Ok(meta) = meta else { continue };
            push(&mut files, &name, &meta);
        }
        if dir.done && files.len() < READDIR_BATCH {
            // Then this session's new files in the folder, which the folder does not show yet.
            for (path, pending) in &self.pending {
                let Some(name) = path.file_name() else {
                    continue;
                };
                if path.parent() != dir.path || dir.listed_pending.contains(name) {
                    continue;
                }
                dir.listed_pending.insert(name.to_owned());
                if let Ok(meta) = pending.metadata() {
                    push(&mut files, &name.to_owned(), &meta);
                }
            }
        }
        if files.is_empty() {
            return Err(Fail(StatusCode::Eof, "no more entries".into()));
        }
        encode(Packet::Name(Name { id, files }))
    }

    pub(super) fn remove(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::Delete)?;
        let path = self.path(path)?;
        if let Some(pending) = self.pending.remove(&path) {
            // Removing a file this session is writing: the upload is dropped (its open
            // handles write to nothing, as to an unlinked file) and the old file goes too.
            let kind = pending.kind;
            drop(pending);
            if kind != Kind::New {
                self.jail.remove_file(&path)?;
            }
        } else {
            self.jail.remove_file(&path)?;
        }
        self.audit("remove", json!({"path": path.display()}));
        ok(id)
    }

    pub(super) fn mkdir(&mut self, id: u32, path: &str, attrs: &FileAttributes) -> Reply {
        self.allow(Permission::Mkdir)?;
        let path = self.path(path)?;
        let mode = attrs.permissions.map(jail::safe_mode).unwrap_or(0o777);
        self.jail.create_dir(&path, mode)?;
        self.audit("mkdir", json!({"path": path.display()}));
        ok(id)
    }

    pub(super) fn rmdir(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::Delete)?;
        let path = self.path(path)?;
        self.jail.remove_dir(&path)?;
        self.audit("rmdir", json!({"path": path.display()}));
        ok(id)
    }

    pub(super) fn realpath(&mut self, id: u32, path: &str) -> Reply {
        let path = JailPath::parse(path)?;
        name_reply(id, path.display())
    }

    pub(super) fn rename(&mut self, id: u32, from: &str, to: &str, replace: bool) -> Reply {
        self.allow(Permission::Rename)?;
        let from = self.path(from)?;
        let to = self.path(to)?;
        // Renaming a file this session is still writing (git closes then renames its lock
        // files, and sshfs may send the rename before the close): publish it first, then
        // move it; its handles go on writing to it in place.
        if let Some(mut pending) = self.pending.remove(&from) {
            if let Some(error) = pending.failed.take() {
                return Err(Fail::failure(format!(
                    "upload not saved: an earlier write failed ({error})"
                )));
            }
            pending.commit()?;
            Metrics::inc(&self.metrics().uploads_total);
            self.audit(
                "upload",
                json!({"path": from.display(), "bytes": pending.metadata().map(|m| m.len()).unwrap_or(0), "mode": "atomic", "kind": pending.kind.name()}),
            );
        }
        self.jail.rename(&from, &to, replace)?;
        // A name this session was writing to now names the moved file: that upload is dropped,
        // as an unlinked file's content is.
        self.pending.remove(&to);
        self.audit(
            "rename",
            json!({"path": from.display(), "to": to.display(), "replace": replace}),
        );
        ok(id)
    }

    pub(super) fn readlink(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::Read)?;
        let path = self.path(path)?;
        let target = self.jail.read_link(&path)?;
        name_reply(id, target.to_string_lossy().into_owned())
    }

    pub(super) fn symlink(&mut self, id: u32, target: &str, link: &str) -> Reply {
        self.allow(Permission::Write)?;
        let link = self.path(link)?;
        self.jail.symlink(target, &link)?;
        self.audit("symlink", json!({"path": link.display(), "target": target}));
        ok(id)
    }

    pub(super) fn extended(&mut self, id: u32, request: &str, data: Vec<u8>) -> Reply {
        let mut f = Fields::new(Bytes::from(data));
        match request {
            "posix-rename@openssh.com" => {
                let (from, to) = (f.string()?, f.string()?);
                self.rename(id, &from, &to, true)
            }
            "hardlink@openssh.com" => {
                self.allow(Permission::Write)?;
                let from = self.path(&f.string()?)?;
                let to = self.path(&f.string()?)?;
                self.jail.hard_link(&from, &to)?;
                self.audit(
                    "hardlink",
                    json!({"path": to.display(), "target": from.display()}),
                );
                ok(id)
            }
            "statvfs@openssh.com" => {
                let path = self.path(&f.string()?)?;
                statvfs_reply(id, &self.jail.statvfs(&path)?)
            }
            "fstatvfs@openssh.com" => {
                let handle = f.bytes()?;
                let stat = match parse_handle(&handle).and_then(|h| self.handles.get(&h)) {
                    Some(Handle::File(file)) => {
                        rustix::fs::fstatvfs(&file.file).map_err(io::Error::from)?
                    }
                    Some(Handle::Dir(dir)) => self.jail.statvfs(&dir.path)?,
                    None => return Err(Fail::no_handle()),
                };
                statvfs_reply(id, &stat)
            }
            "fsync@openssh.com" => {
                let handle = f.bytes()?;
                let file = self.file_handle(&handle)?;
                file.file.sync_all()?;
                ok(id)
            }
            "lsetstat@openssh.com" => {
                let path = f.string()?;
                let mut rest = f.rest();
                let attrs: FileAttributes =
                    russh_sftp::de::from_bytes(&mut rest).map_err(|_| Fail::bad())?;
                self.setstat(id, &path, &attrs, false)
            }
            "limits@openssh.com" => Ok(codec::extended_reply(
                id,
                &codec::u64s(&[
                    MAX_PACKET as u64,
                    MAX_IO as u64,
                    MAX_IO as u64,
                    self.ctx.shared.config.file.max_handles as u64,
                ]),
            )),
            "expand-path@openssh.com" => {
                let path = f.string()?;
                let path = match path.strip_prefix('~') {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                    _ => path,
                };
                name_reply(id, JailPath::parse(&path)?.display())
            }
            other => Err(Fail(
                StatusCode::OpUnsupported,
                format!("extension `{other}` is not supported"),
            )),
        }
    }
}
