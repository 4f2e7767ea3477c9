//! Progress lines on stderr while a run works, one per host.

use std::time::Duration;

use super::desired::HostSpec;

/// Progress lines on stderr, one per host (nothing when not wanted or not a terminal).
pub(super) struct Progress {
    pub(super) bars: Vec<indicatif::ProgressBar>,
    _multi: Option<indicatif::MultiProgress>,
}

impl Progress {
    pub(super) fn new(hosts: &[HostSpec], enabled: bool) -> Progress {
        use std::io::IsTerminal;
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress {
                bars: hosts
                    .iter()
                    .map(|_| indicatif::ProgressBar::hidden())
                    .collect(),
                _multi: None,
            };
        }
        let multi = indicatif::MultiProgress::new();
        let width = hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix} {wide_msg}")
            .expect("valid template");
        let bars = hosts
            .iter()
            .map(|h| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(format!("{:width$}", h.host));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message("connecting");
                bar
            })
            .collect();
        Progress {
            bars,
            _multi: Some(multi),
        }
    }
}
