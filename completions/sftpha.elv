
use builtin;
use str;

set edit:completion:arg-completer[sftpha] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'sftpha'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'sftpha'= {
            cand -c 'The cluster definition, for the commands that read one (they take `-c` after their name too, and `$SFTPHA_CLUSTER`)'
            cand --cluster 'The cluster definition, for the commands that read one (they take `-c` after their name too, and `$SFTPHA_CLUSTER`)'
            cand --format 'Output format, for the commands that print a report (they take `--format` after their name too; markdown: assess and init only)'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --yes 'Never prompt; take the default answer (for the commands that ask: init)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Asks the day-zero questions and writes a commented cluster.toml and users.toml'
            cand assess 'Risk assessment of cluster.toml: single points of failure, RTO and RPO per disruption, availability, capacity with a node down; --probe checks the live hosts'
            cand provision 'Makes every host what cluster.toml says, over SSH: configs from the templates, one host key set, users, the sftpha binary, services; then verifies the cluster from outside'
            cand users 'Users of the cluster: edits users.toml (comments kept) and pushes it to every node, which reloads without a restart; every node is checked to accept (or refuse) the keys. Exit 4 if a node did not take it'
            cand keys 'The cluster''s keys: host CA and known_hosts lines, user and host key rotation with no failed login'
            cand import 'Imports an existing server into the cluster: users, keys and host keys, so partners change nothing'
            cand upgrade 'Replaces the sftpha binary on every node, one node at a time (drain, swap, start, healthy with the same host key), with no failed login through the gateway'
            cand status 'Live health of every node and gateway, and drift from the desired state (which file differs where). Exit 1 if anything is unhealthy or drifted'
            cand inventory 'Prints the cluster as an Ansible dynamic inventory (JSON) for playbooks/provision.yml: every host with the variables the templates need'
            cand node 'The bundled SFTP server'
            cand gateway 'The bundled TCP gateway (load balancer with health checks)'
            cand lab 'A whole cluster on 127.0.0.1: nodes, gateway, shared storage, a demo user'
            cand test-failover 'Failover smoke test: workload, fault, detection and recovery measured, data verified'
            cand completions 'Prints shell completions'
            cand man 'Prints a man page (roff): sftpha(1), a command''s, or a file format''s'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;init'= {
            cand --name 'Name of the cluster'
            cand --impact 'Impact of downtime; sets the default objectives'
            cand --rto 'Longest tolerable outage for new sessions (`60`, `60s`, `5m`; a number is seconds)'
            cand --rpo 'Longest tolerable loss of completed uploads (`0`, `15m`, `1d`; a number is seconds)'
            cand --availability 'Availability objective in percent, e.g. 99.95'
            cand --peak-sessions 'Concurrent SFTP sessions at peak'
            cand --peak-throughput 'Aggregate transfer rate at peak, in Mbit/s'
            cand --max-sessions 'Sessions one node may serve'
            cand --nodes 'Node hosts, comma-separated (named n1, n2, ... in order)'
            cand --zones 'The nodes'' zones, comma-separated, in the order of --nodes (cycled when fewer)'
            cand --storage-kind 'Kind of the shared storage'
            cand --storage-path 'Where the storage is mounted on every node'
            cand --replicas 'Copies the storage keeps'
            cand --replication 'How the copies are kept'
            cand --replication-lag 'How far an asynchronous replica may be behind (`30s`, `5m`; a number is seconds)'
            cand --backup-interval 'Time between backups of the storage (`1d`, `6h`; a number is seconds; 0: none)'
            cand --gateway-kind 'The load balancer in front of the nodes'
            cand --gateway-hosts 'Gateway hosts, comma-separated'
            cand --vip 'keepalived virtual IP for two or more gateway hosts ("" for none)'
            cand --ssh-user 'User sftpha logs into the hosts as'
            cand --identity 'Private key for logging into the hosts'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]; markdown for a change ticket'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --force 'Overwrite cluster.toml and users.toml if they exist'
            cand --yes 'Never prompt; take the default answer'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;assess'= {
            cand --fail-on 'The lowest severity that fails the assessment (exit 1)'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]; markdown for a change ticket'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --probe 'Also check the live hosts: every node answers, the same host key everywhere, the storage really shared, the same config and users, clocks, free space'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;provision'= {
            cand --only 'Only these nodes, gateways (gw1, gw2, ...) or hosts, comma-separated'
            cand --node-binary 'The sftpha binary to install on the hosts (default: this one)'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --dry-run 'Print what would change on every host (create / change / unchanged) and stop'
            cand --accept-new-host-keys 'Record the host keys of hosts not yet in the cluster''s known_hosts (check the printed fingerprints). A key that CHANGED is refused all the same'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;users'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand add 'Adds a user: public keys (and/or a password), home, rights; pushes to every node'
            cand remove 'Removes a user from every node (their files on the storage are kept)'
            cand list 'Lists the users with their keys'' fingerprints'
            cand set-key 'Adds keys to a user or removes them by fingerprint; pushes to every node'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;users;add'= {
            cand --key 'OpenSSH public key file (one key per line); repeat for more'
            cand --home 'Home below the storage (default: the name)'
            cand --permissions 'Rights, comma-separated: list, read, write, delete, mkdir, rename (default: all)'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --password 'Ask for a password (a prompt on a terminal, else one line from stdin); stored as an argon2id hash, never shown'
            cand --no-push 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
            cand --accept-new-host-keys 'Record the SSH host keys of hosts not yet in the cluster''s known_hosts'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;users;remove'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --no-push 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
            cand --accept-new-host-keys 'Record the SSH host keys of hosts not yet in the cluster''s known_hosts'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;users;list'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;users;set-key'= {
            cand --key 'Public key file to add (one key per line); repeat for more'
            cand --remove-key 'Fingerprint (`SHA256:...`, as `users list` shows) of a key to remove; repeat for more'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --no-push 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
            cand --accept-new-host-keys 'Record the SSH host keys of hosts not yet in the cluster''s known_hosts'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;users;help'= {
            cand add 'Adds a user: public keys (and/or a password), home, rights; pushes to every node'
            cand remove 'Removes a user from every node (their files on the storage are kept)'
            cand list 'Lists the users with their keys'' fingerprints'
            cand set-key 'Adds keys to a user or removes them by fingerprint; pushes to every node'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;users;help;add'= {
        }
        &'sftpha;users;help;remove'= {
        }
        &'sftpha;users;help;list'= {
        }
        &'sftpha;users;help;set-key'= {
        }
        &'sftpha;users;help;help'= {
        }
        &'sftpha;keys'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand init 'Makes the cluster''s missing keys beside cluster.toml (host key, host CA, probe key) and issues or renews host certificates; what `provision` does first'
            cand known-hosts 'Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once, survives every rotation) and the host keys for clients that pin plain keys'
            cand rotate 'Key rotations with no failed login: a user''s key, or the cluster''s host keys'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;keys;init'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;keys;known-hosts'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --plain 'Only the plain host key lines (no `@cert-authority`)'
            cand --ca 'Only the `@cert-authority` line'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;keys;rotate'= {
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand user 'Replaces a user''s key: adds the new one on every node (checked), then retires the old one(s) at once, after --grace, or with --finish'
            cand host 'Rotates the cluster host keys (ed25519, ECDSA, RSA together). Phase 1: new keys beside the old ones on every node (the old ones still presented), published by `keys known-hosts`. --finish: every node presents the new keys, and only once every node is seen doing so in the SSH handshake are the old ones retired. Clients that trust the host CA never notice; clients that pin keys add the new lines between the phases'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;keys;rotate;user'= {
            cand --key 'The new key: a public key file, or a private key file (then a login through the gateway with it is checked before the old key goes)'
            cand --grace 'Keep the old key(s) this long (`30s`, `10m`, `12h`, `7d`; a plain number is seconds); up to 10 minutes the command waits, longer ones end with `--finish`'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --finish 'Retire the old key(s) of a rotation started with a long --grace'
            cand --force 'With --finish: retire before the grace has run out'
            cand --no-push 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
            cand --accept-new-host-keys 'Record the SSH host keys of hosts not yet in the cluster''s known_hosts'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;keys;rotate;host'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --finish 'Phase 2: present the new keys, then retire the old ones, which is refused unless every node is seen presenting the new keys (and their certificates) in the SSH handshake'
            cand --force 'With --finish: retire the old keys even though some nodes were not seen presenting the new ones (clients that pin plain keys and reach those nodes are refused)'
            cand --now 'Both phases at once: for clusters whose clients all trust the host CA (clients that pin the plain key would see a changed key)'
            cand --accept-new-host-keys 'Record the SSH host keys of hosts not yet in the cluster''s known_hosts'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;keys;rotate;help'= {
            cand user 'Replaces a user''s key: adds the new one on every node (checked), then retires the old one(s) at once, after --grace, or with --finish'
            cand host 'Rotates the cluster host keys (ed25519, ECDSA, RSA together). Phase 1: new keys beside the old ones on every node (the old ones still presented), published by `keys known-hosts`. --finish: every node presents the new keys, and only once every node is seen doing so in the SSH handshake are the old ones retired. Clients that trust the host CA never notice; clients that pin keys add the new lines between the phases'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;keys;rotate;help;user'= {
        }
        &'sftpha;keys;rotate;help;host'= {
        }
        &'sftpha;keys;rotate;help;help'= {
        }
        &'sftpha;keys;help'= {
            cand init 'Makes the cluster''s missing keys beside cluster.toml (host key, host CA, probe key) and issues or renews host certificates; what `provision` does first'
            cand known-hosts 'Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once, survives every rotation) and the host keys for clients that pin plain keys'
            cand rotate 'Key rotations with no failed login: a user''s key, or the cluster''s host keys'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;keys;help;init'= {
        }
        &'sftpha;keys;help;known-hosts'= {
        }
        &'sftpha;keys;help;rotate'= {
            cand user 'Replaces a user''s key: adds the new one on every node (checked), then retires the old one(s) at once, after --grace, or with --finish'
            cand host 'Rotates the cluster host keys (ed25519, ECDSA, RSA together). Phase 1: new keys beside the old ones on every node (the old ones still presented), published by `keys known-hosts`. --finish: every node presents the new keys, and only once every node is seen doing so in the SSH handshake are the old ones retired. Clients that trust the host CA never notice; clients that pin keys add the new lines between the phases'
        }
        &'sftpha;keys;help;rotate;user'= {
        }
        &'sftpha;keys;help;rotate;host'= {
        }
        &'sftpha;keys;help;help'= {
        }
        &'sftpha;import'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand openssh 'Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into users.toml and the cluster''s host keys. Files are not copied: the report gives the rsync commands. Exit 2 when something cannot be imported as it is (nothing written)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;import;openssh'= {
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --host 'The old server, reached over SSH with cluster.toml''s [ssh] identity and known_hosts'
            cand --ssh-user 'Log in as this user (default: [ssh] user): root, or a user with passwordless sudo'
            cand --port 'The old server''s SSH port (default: [ssh] port)'
            cand --data-root 'The folder on the old server whose subfolders become homes below the cluster''s storage (default: the parent most SFTP users'' folders share)'
            cand --skip 'Leave this account out; repeat for more'
            cand --host-ca 'The old server''s host CA (private key file): the cluster signs its host certificates with it, so partners that trust the CA (@cert-authority) keep working'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --force 'Replace users users.toml already has, and host keys (and CA) the cluster already has'
            cand --dry-run 'Read and report; write nothing'
            cand --accept-new-host-keys 'Record the old server''s SSH host key if the cluster''s known_hosts lacks it'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;import;help'= {
            cand openssh 'Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into users.toml and the cluster''s host keys. Files are not copied: the report gives the rsync commands. Exit 2 when something cannot be imported as it is (nothing written)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;import;help;openssh'= {
        }
        &'sftpha;import;help;help'= {
        }
        &'sftpha;upgrade'= {
            cand --node-binary 'The sftpha binary to install (default: this one)'
            cand --only 'Only these nodes or hosts, comma-separated'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --dry-run 'Print which nodes would get the binary and stop'
            cand --accept-new-host-keys 'Record the SSH host keys of hosts not yet in the cluster''s known_hosts'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;status'= {
            cand --node-binary 'The sftpha binary the hosts should run (default: what `provision` or `upgrade` last installed on each host, else this one)'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;inventory'= {
            cand --host 'Variables of one host (all are in `--list`''s `_meta`, so this prints `{}`)'
            cand --node-binary 'The sftpha binary the playbook installs (default: this one)'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --list 'Print the whole inventory (what Ansible asks for)'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;node'= {
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Runs the SFTP server in the foreground; logs go to stderr'
            cand check 'Validates node.toml, users.toml and the host keys, and prints what the node would serve'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;node;run'= {
            cand --config 'The node''s configuration file'
            cand --ready-file 'Also write the ready line to this file (atomically) once the node accepts connections'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;node;check'= {
            cand --config 'The node''s configuration file'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;node;help'= {
            cand run 'Runs the SFTP server in the foreground; logs go to stderr'
            cand check 'Validates node.toml, users.toml and the host keys, and prints what the node would serve'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;node;help;run'= {
        }
        &'sftpha;node;help;check'= {
        }
        &'sftpha;node;help;help'= {
        }
        &'sftpha;gateway'= {
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand run 'Runs the gateway in the foreground; logs go to stderr'
            cand supervise 'Holds the gateway''s listening sockets and runs `gateway run` on them, so that no login is refused while the gateway restarts'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;gateway;run'= {
            cand --config 'The gateway''s configuration file'
            cand --ready-file 'Also write the ready line to this file (atomically) once the gateway accepts connections'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;gateway;supervise'= {
            cand --config 'The gateway''s configuration file'
            cand --worker-pidfile 'Keep the serving gateway process''s pid in this file (rewritten at every restart and reload)'
            cand --ready-file 'Also write the first gateway process''s ready line to this file (atomically)'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;gateway;help'= {
            cand run 'Runs the gateway in the foreground; logs go to stderr'
            cand supervise 'Holds the gateway''s listening sockets and runs `gateway run` on them, so that no login is refused while the gateway restarts'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;gateway;help;run'= {
        }
        &'sftpha;gateway;help;supervise'= {
        }
        &'sftpha;gateway;help;help'= {
        }
        &'sftpha;lab'= {
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand up 'Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1'
            cand down 'Stops every process of the lab (by pidfile; drains first). Safe to run twice'
            cand status 'Health of every process of the lab (a process stopped by SIGSTOP is shown as such); exit 1 if any is not healthy'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;lab;up'= {
            cand --nodes 'Number of nodes'
            cand --dir 'The lab''s directory (keys, configs, storage, logs, pidfiles)'
            cand --port 'Gateway port on 127.0.0.1 (0: any free port)'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;lab;down'= {
            cand --dir 'The lab''s directory'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;lab;status'= {
            cand --dir 'The lab''s directory'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;lab;help'= {
            cand up 'Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1'
            cand down 'Stops every process of the lab (by pidfile; drains first). Safe to run twice'
            cand status 'Health of every process of the lab (a process stopped by SIGSTOP is shown as such); exit 1 if any is not healthy'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;lab;help;up'= {
        }
        &'sftpha;lab;help;down'= {
        }
        &'sftpha;lab;help;status'= {
        }
        &'sftpha;lab;help;help'= {
        }
        &'sftpha;test-failover'= {
            cand --lab 'The lab to test (see `sftpha lab up`); without it, the cluster of `-c`'
            cand --fault 'The fault to inject'
            cand --node 'The node to fault (default: the one with the most sessions)'
            cand --gateway 'With a gateway fault: the gateway host to fault (default: the vip holder, else the first gateway host)'
            cand --clients 'Concurrent SFTP clients'
            cand --duration 'How long the workload runs (`15`, `15s`, `2m`; 3 s to 1 h); the fault comes a third of the way in'
            cand --file-kib 'Size of every uploaded file, in KiB'
            cand --rto 'RTO objective (`30s`, `2m`; a number is seconds; default: the cluster''s objectives.rto_seconds, 30 s on a lab)'
            cand --rto-ms 'RTO objective in milliseconds (the older spelling of --rto)'
            cand --max-failed-logins 'Failed logins tolerated'
            cand --undo-after 'On a cluster: the fault''s host undoes it by itself this long after it was injected, even if test-failover dies or loses its SSH connection (default: --duration + 90 s)'
            cand --junit 'Also write the result as JUnit XML'
            cand -c 'The cluster definition'
            cand --cluster 'The cluster definition'
            cand --format 'Output format [default: human on a terminal, JSON otherwise]'
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --yes 'Never prompt; take the default answer'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;completions'= {
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;man'= {
            cand --color 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never'
            cand --list 'List every page''s command, one per line (what `scripts/gen` writes to man/)'
            cand -v 'More log output (-v: debug, -vv: trace)'
            cand --verbose 'More log output (-v: debug, -vv: trace)'
            cand -q 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand --quiet 'Less log output (-q: warnings and errors only, -qq: errors only)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'sftpha;help'= {
            cand init 'Asks the day-zero questions and writes a commented cluster.toml and users.toml'
            cand assess 'Risk assessment of cluster.toml: single points of failure, RTO and RPO per disruption, availability, capacity with a node down; --probe checks the live hosts'
            cand provision 'Makes every host what cluster.toml says, over SSH: configs from the templates, one host key set, users, the sftpha binary, services; then verifies the cluster from outside'
            cand users 'Users of the cluster: edits users.toml (comments kept) and pushes it to every node, which reloads without a restart; every node is checked to accept (or refuse) the keys. Exit 4 if a node did not take it'
            cand keys 'The cluster''s keys: host CA and known_hosts lines, user and host key rotation with no failed login'
            cand import 'Imports an existing server into the cluster: users, keys and host keys, so partners change nothing'
            cand upgrade 'Replaces the sftpha binary on every node, one node at a time (drain, swap, start, healthy with the same host key), with no failed login through the gateway'
            cand status 'Live health of every node and gateway, and drift from the desired state (which file differs where). Exit 1 if anything is unhealthy or drifted'
            cand inventory 'Prints the cluster as an Ansible dynamic inventory (JSON) for playbooks/provision.yml: every host with the variables the templates need'
            cand node 'The bundled SFTP server'
            cand gateway 'The bundled TCP gateway (load balancer with health checks)'
            cand lab 'A whole cluster on 127.0.0.1: nodes, gateway, shared storage, a demo user'
            cand test-failover 'Failover smoke test: workload, fault, detection and recovery measured, data verified'
            cand completions 'Prints shell completions'
            cand man 'Prints a man page (roff): sftpha(1), a command''s, or a file format''s'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'sftpha;help;init'= {
        }
        &'sftpha;help;assess'= {
        }
        &'sftpha;help;provision'= {
        }
        &'sftpha;help;users'= {
            cand add 'Adds a user: public keys (and/or a password), home, rights; pushes to every node'
            cand remove 'Removes a user from every node (their files on the storage are kept)'
            cand list 'Lists the users with their keys'' fingerprints'
            cand set-key 'Adds keys to a user or removes them by fingerprint; pushes to every node'
        }
        &'sftpha;help;users;add'= {
        }
        &'sftpha;help;users;remove'= {
        }
        &'sftpha;help;users;list'= {
        }
        &'sftpha;help;users;set-key'= {
        }
        &'sftpha;help;keys'= {
            cand init 'Makes the cluster''s missing keys beside cluster.toml (host key, host CA, probe key) and issues or renews host certificates; what `provision` does first'
            cand known-hosts 'Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once, survives every rotation) and the host keys for clients that pin plain keys'
            cand rotate 'Key rotations with no failed login: a user''s key, or the cluster''s host keys'
        }
        &'sftpha;help;keys;init'= {
        }
        &'sftpha;help;keys;known-hosts'= {
        }
        &'sftpha;help;keys;rotate'= {
            cand user 'Replaces a user''s key: adds the new one on every node (checked), then retires the old one(s) at once, after --grace, or with --finish'
            cand host 'Rotates the cluster host keys (ed25519, ECDSA, RSA together). Phase 1: new keys beside the old ones on every node (the old ones still presented), published by `keys known-hosts`. --finish: every node presents the new keys, and only once every node is seen doing so in the SSH handshake are the old ones retired. Clients that trust the host CA never notice; clients that pin keys add the new lines between the phases'
        }
        &'sftpha;help;keys;rotate;user'= {
        }
        &'sftpha;help;keys;rotate;host'= {
        }
        &'sftpha;help;import'= {
            cand openssh 'Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into users.toml and the cluster''s host keys. Files are not copied: the report gives the rsync commands. Exit 2 when something cannot be imported as it is (nothing written)'
        }
        &'sftpha;help;import;openssh'= {
        }
        &'sftpha;help;upgrade'= {
        }
        &'sftpha;help;status'= {
        }
        &'sftpha;help;inventory'= {
        }
        &'sftpha;help;node'= {
            cand run 'Runs the SFTP server in the foreground; logs go to stderr'
            cand check 'Validates node.toml, users.toml and the host keys, and prints what the node would serve'
        }
        &'sftpha;help;node;run'= {
        }
        &'sftpha;help;node;check'= {
        }
        &'sftpha;help;gateway'= {
            cand run 'Runs the gateway in the foreground; logs go to stderr'
            cand supervise 'Holds the gateway''s listening sockets and runs `gateway run` on them, so that no login is refused while the gateway restarts'
        }
        &'sftpha;help;gateway;run'= {
        }
        &'sftpha;help;gateway;supervise'= {
        }
        &'sftpha;help;lab'= {
            cand up 'Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1'
            cand down 'Stops every process of the lab (by pidfile; drains first). Safe to run twice'
            cand status 'Health of every process of the lab (a process stopped by SIGSTOP is shown as such); exit 1 if any is not healthy'
        }
        &'sftpha;help;lab;up'= {
        }
        &'sftpha;help;lab;down'= {
        }
        &'sftpha;help;lab;status'= {
        }
        &'sftpha;help;test-failover'= {
        }
        &'sftpha;help;completions'= {
        }
        &'sftpha;help;man'= {
        }
        &'sftpha;help;help'= {
        }
    ]
    $completions[$command]
}
