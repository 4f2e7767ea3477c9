# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sftpha_global_optspecs
    string join \n c/cluster= format= v/verbose q/quiet color= yes h/help V/version
end

function __fish_sftpha_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sftpha_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sftpha_using_subcommand
    set -l cmd (__fish_sftpha_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sftpha -n "__fish_sftpha_needs_command" -s c -l cluster -d 'The cluster definition, for the commands that read one (they take `-c` after their name too, and `$SFTPHA_CLUSTER`)' -r -F
complete -c sftpha -n "__fish_sftpha_needs_command" -l format -d 'Output format, for the commands that print a report (they take `--format` after their name too; markdown: assess and init only)' -r -f -a "human\t''
json\t''
markdown\t'A report for a change ticket (`assess` and `init` only)'"
complete -c sftpha -n "__fish_sftpha_needs_command" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_needs_command" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_needs_command" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_needs_command" -l yes -d 'Never prompt; take the default answer (for the commands that ask: init)'
complete -c sftpha -n "__fish_sftpha_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_needs_command" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "init" -d 'Asks the day-zero questions and writes a commented cluster.toml and users.toml'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "assess" -d 'Risk assessment of cluster.toml: single points of failure, RTO and RPO per disruption, availability, capacity with a node down; --probe checks the live hosts'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "provision" -d 'Makes every host what cluster.toml says, over SSH: configs from the templates, one host key set, users, the sftpha binary, services; then verifies the cluster from outside'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "users" -d 'Users of the cluster: edits users.toml (comments kept) and pushes it to every node, which reloads without a restart; every node is checked to accept (or refuse) the keys. Exit 4 if a node did not take it'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "keys" -d 'The cluster\'s keys: host CA and known_hosts lines, user and host key rotation with no failed login'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "import" -d 'Imports an existing server into the cluster: users, keys and host keys, so partners change nothing'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "upgrade" -d 'Replaces the sftpha binary on every node, one node at a time (drain, swap, start, healthy with the same host key), with no failed login through the gateway'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "status" -d 'Live health of every node and gateway, and drift from the desired state (which file differs where). Exit 1 if anything is unhealthy or drifted'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "inventory" -d 'Prints the cluster as an Ansible dynamic inventory (JSON) for playbooks/provision.yml: every host with the variables the templates need'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "node" -d 'The bundled SFTP server'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "gateway" -d 'The bundled TCP gateway (load balancer with health checks)'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "lab" -d 'A whole cluster on 127.0.0.1: nodes, gateway, shared storage, a demo user'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "test-failover" -d 'Failover smoke test: workload, fault, detection and recovery measured, data verified'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "completions" -d 'Prints shell completions'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "man" -d 'Prints a man page (roff): sftpha(1), a command\'s, or a file format\'s'
complete -c sftpha -n "__fish_sftpha_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l name -d 'Name of the cluster' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l impact -d 'Impact of downtime; sets the default objectives' -r -f -a "critical\t''
high\t''
moderate\t''
low\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l rto -d 'Longest tolerable outage for new sessions (`60`, `60s`, `5m`; a number is seconds)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l rpo -d 'Longest tolerable loss of completed uploads (`0`, `15m`, `1d`; a number is seconds)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l availability -d 'Availability objective in percent, e.g. 99.95' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l peak-sessions -d 'Concurrent SFTP sessions at peak' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l peak-throughput -d 'Aggregate transfer rate at peak, in Mbit/s' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l max-sessions -d 'Sessions one node may serve' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l nodes -d 'Node hosts, comma-separated (named n1, n2, ... in order)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l zones -d 'The nodes\' zones, comma-separated, in the order of --nodes (cycled when fewer)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l storage-kind -d 'Kind of the shared storage' -r -f -a "nfs\t''
smb\t''
cephfs\t''
glusterfs\t''
shared\t''
local\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l storage-path -d 'Where the storage is mounted on every node' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l replicas -d 'Copies the storage keeps' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l replication -d 'How the copies are kept' -r -f -a "none\t''
sync\t''
async\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l replication-lag -d 'How far an asynchronous replica may be behind (`30s`, `5m`; a number is seconds)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l backup-interval -d 'Time between backups of the storage (`1d`, `6h`; a number is seconds; 0: none)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l gateway-kind -d 'The load balancer in front of the nodes' -r -f -a "builtin\t''
haproxy\t''
external\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l gateway-hosts -d 'Gateway hosts, comma-separated' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l vip -d 'keepalived virtual IP for two or more gateway hosts ("" for none)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l ssh-user -d 'User sftpha logs into the hosts as' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l identity -d 'Private key for logging into the hosts' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l format -d 'Output format [default: human on a terminal, JSON otherwise]; markdown for a change ticket' -r -f -a "human\t''
json\t''
markdown\t'A report for a change ticket (`assess` and `init` only)'"
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l force -d 'Overwrite cluster.toml and users.toml if they exist'
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -l yes -d 'Never prompt; take the default answer'
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand init" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -l fail-on -d 'The lowest severity that fails the assessment (exit 1)' -r -f -a "high\t''
medium\t''
low\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -l format -d 'Output format [default: human on a terminal, JSON otherwise]; markdown for a change ticket' -r -f -a "human\t''
json\t''
markdown\t'A report for a change ticket (`assess` and `init` only)'"
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -l probe -d 'Also check the live hosts: every node answers, the same host key everywhere, the storage really shared, the same config and users, clocks, free space'
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand assess" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -l only -d 'Only these nodes, gateways (gw1, gw2, ...) or hosts, comma-separated' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -l node-binary -d 'The sftpha binary to install on the hosts (default: this one)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -l dry-run -d 'Print what would change on every host (create / change / unchanged) and stop'
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -l accept-new-host-keys -d 'Record the host keys of hosts not yet in the cluster\'s known_hosts (check the printed fingerprints). A key that CHANGED is refused all the same'
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand provision" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -f -a "add" -d 'Adds a user: public keys (and/or a password), home, rights; pushes to every node'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -f -a "remove" -d 'Removes a user from every node (their files on the storage are kept)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -f -a "list" -d 'Lists the users with their keys\' fingerprints'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -f -a "set-key" -d 'Adds keys to a user or removes them by fingerprint; pushes to every node'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and not __fish_seen_subcommand_from add remove list set-key help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l key -d 'OpenSSH public key file (one key per line); repeat for more' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l home -d 'Home below the storage (default: the name)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l permissions -d 'Rights, comma-separated: list, read, write, delete, mkdir, rename (default: all)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l password -d 'Ask for a password (a prompt on a terminal, else one line from stdin); stored as an argon2id hash, never shown'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l no-push -d 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -l accept-new-host-keys -d 'Record the SSH host keys of hosts not yet in the cluster\'s known_hosts'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -l no-push -d 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -l accept-new-host-keys -d 'Record the SSH host keys of hosts not yet in the cluster\'s known_hosts'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -l key -d 'Public key file to add (one key per line); repeat for more' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -l remove-key -d 'Fingerprint (`SHA256:...`, as `users list` shows) of a key to remove; repeat for more' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -l no-push -d 'Only edit users.toml; do not push (`sftpha provision` pushes it later)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -l accept-new-host-keys -d 'Record the SSH host keys of hosts not yet in the cluster\'s known_hosts'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from set-key" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "add" -d 'Adds a user: public keys (and/or a password), home, rights; pushes to every node'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Removes a user from every node (their files on the storage are kept)'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists the users with their keys\' fingerprints'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "set-key" -d 'Adds keys to a user or removes them by fingerprint; pushes to every node'
complete -c sftpha -n "__fish_sftpha_using_subcommand users; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -f -a "init" -d 'Makes the cluster\'s missing keys beside cluster.toml (host key, host CA, probe key) and issues or renews host certificates; what `provision` does first'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -f -a "known-hosts" -d 'Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once, survives every rotation) and the host keys for clients that pin plain keys'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -f -a "rotate" -d 'Key rotations with no failed login: a user\'s key, or the cluster\'s host keys'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and not __fish_seen_subcommand_from init known-hosts rotate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -l plain -d 'Only the plain host key lines (no `@cert-authority`)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -l ca -d 'Only the `@cert-authority` line'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from known-hosts" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -f -a "user" -d 'Replaces a user\'s key: adds the new one on every node (checked), then retires the old one(s) at once, after --grace, or with --finish'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -f -a "host" -d 'Rotates the cluster host keys (ed25519, ECDSA, RSA together). Phase 1: new keys beside the old ones on every node (the old ones still presented), published by `keys known-hosts`. --finish: every node presents the new keys, and only once every node is seen doing so in the SSH handshake are the old ones retired. Clients that trust the host CA never notice; clients that pin keys add the new lines between the phases'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from rotate" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "init" -d 'Makes the cluster\'s missing keys beside cluster.toml (host key, host CA, probe key) and issues or renews host certificates; what `provision` does first'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "known-hosts" -d 'Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once, survives every rotation) and the host keys for clients that pin plain keys'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Key rotations with no failed login: a user\'s key, or the cluster\'s host keys'
complete -c sftpha -n "__fish_sftpha_using_subcommand keys; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -f -a "openssh" -d 'Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into users.toml and the cluster\'s host keys. Files are not copied: the report gives the rsync commands. Exit 2 when something cannot be imported as it is (nothing written)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and not __fish_seen_subcommand_from openssh help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l host -d 'The old server, reached over SSH with cluster.toml\'s [ssh] identity and known_hosts' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l ssh-user -d 'Log in as this user (default: [ssh] user): root, or a user with passwordless sudo' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l port -d 'The old server\'s SSH port (default: [ssh] port)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l data-root -d 'The folder on the old server whose subfolders become homes below the cluster\'s storage (default: the parent most SFTP users\' folders share)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l skip -d 'Leave this account out; repeat for more' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l host-ca -d 'The old server\'s host CA (private key file): the cluster signs its host certificates with it, so partners that trust the CA (@cert-authority) keep working' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l force -d 'Replace users users.toml already has, and host keys (and CA) the cluster already has'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l dry-run -d 'Read and report; write nothing'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -l accept-new-host-keys -d 'Record the old server\'s SSH host key if the cluster\'s known_hosts lacks it'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from openssh" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "openssh" -d 'Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into users.toml and the cluster\'s host keys. Files are not copied: the report gives the rsync commands. Exit 2 when something cannot be imported as it is (nothing written)'
complete -c sftpha -n "__fish_sftpha_using_subcommand import; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -l node-binary -d 'The sftpha binary to install (default: this one)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -l only -d 'Only these nodes or hosts, comma-separated' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -l dry-run -d 'Print which nodes would get the binary and stop'
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -l accept-new-host-keys -d 'Record the SSH host keys of hosts not yet in the cluster\'s known_hosts'
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand upgrade" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -l node-binary -d 'The sftpha binary the hosts should run (default: what `provision` or `upgrade` last installed on each host, else this one)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand status" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -l host -d 'Variables of one host (all are in `--list`\'s `_meta`, so this prints `{}`)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -l node-binary -d 'The sftpha binary the playbook installs (default: this one)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -l list -d 'Print the whole inventory (what Ansible asks for)'
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand inventory" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -f -a "run" -d 'Runs the SFTP server in the foreground; logs go to stderr'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -f -a "check" -d 'Validates node.toml, users.toml and the host keys, and prints what the node would serve'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and not __fish_seen_subcommand_from run check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -l config -d 'The node\'s configuration file' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -l ready-file -d 'Also write the ready line to this file (atomically) once the node accepts connections' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -l config -d 'The node\'s configuration file' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from check" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "run" -d 'Runs the SFTP server in the foreground; logs go to stderr'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "check" -d 'Validates node.toml, users.toml and the host keys, and prints what the node would serve'
complete -c sftpha -n "__fish_sftpha_using_subcommand node; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -f -a "run" -d 'Runs the gateway in the foreground; logs go to stderr'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -f -a "supervise" -d 'Holds the gateway\'s listening sockets and runs `gateway run` on them, so that no login is refused while the gateway restarts'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and not __fish_seen_subcommand_from run supervise help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -l config -d 'The gateway\'s configuration file' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -l ready-file -d 'Also write the ready line to this file (atomically) once the gateway accepts connections' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -l config -d 'The gateway\'s configuration file' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -l worker-pidfile -d 'Keep the serving gateway process\'s pid in this file (rewritten at every restart and reload)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -l ready-file -d 'Also write the first gateway process\'s ready line to this file (atomically)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from supervise" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "run" -d 'Runs the gateway in the foreground; logs go to stderr'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "supervise" -d 'Holds the gateway\'s listening sockets and runs `gateway run` on them, so that no login is refused while the gateway restarts'
complete -c sftpha -n "__fish_sftpha_using_subcommand gateway; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -f -a "up" -d 'Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -f -a "down" -d 'Stops every process of the lab (by pidfile; drains first). Safe to run twice'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -f -a "status" -d 'Health of every process of the lab (a process stopped by SIGSTOP is shown as such); exit 1 if any is not healthy'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and not __fish_seen_subcommand_from up down status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -l nodes -d 'Number of nodes' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -l dir -d 'The lab\'s directory (keys, configs, storage, logs, pidfiles)' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -l port -d 'Gateway port on 127.0.0.1 (0: any free port)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from up" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -l dir -d 'The lab\'s directory' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from down" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -l dir -d 'The lab\'s directory' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "up" -d 'Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "down" -d 'Stops every process of the lab (by pidfile; drains first). Safe to run twice'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "status" -d 'Health of every process of the lab (a process stopped by SIGSTOP is shown as such); exit 1 if any is not healthy'
complete -c sftpha -n "__fish_sftpha_using_subcommand lab; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l lab -d 'The lab to test (see `sftpha lab up`); without it, the cluster of `-c`' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l fault -d 'The fault to inject' -r -f -a "kill\t'SIGKILL the node process'
freeze\t'SIGSTOP it (the kernel still accepts TCP); SIGCONT when restoring'
partition\t'Cut the host off the network (needs separate hosts: a provisioned cluster)'
drain\t'SIGTERM: the node drains gracefully'
gateway-kill\t'SIGKILL the gateway process (builtin or HAProxy) on the vip holder (a cluster only)'
gateway-partition\t'Cut the vip holder\'s host off the network (a cluster only)'"
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l node -d 'The node to fault (default: the one with the most sessions)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l gateway -d 'With a gateway fault: the gateway host to fault (default: the vip holder, else the first gateway host)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l clients -d 'Concurrent SFTP clients' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l duration -d 'How long the workload runs (`15`, `15s`, `2m`; 3 s to 1 h); the fault comes a third of the way in' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l file-kib -d 'Size of every uploaded file, in KiB' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l rto -d 'RTO objective (`30s`, `2m`; a number is seconds; default: the cluster\'s objectives.rto_seconds, 30 s on a lab)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l rto-ms -d 'RTO objective in milliseconds (the older spelling of --rto)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l max-failed-logins -d 'Failed logins tolerated' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l undo-after -d 'On a cluster: the fault\'s host undoes it by itself this long after it was injected, even if test-failover dies or loses its SSH connection (default: --duration + 90 s)' -r
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l junit -d 'Also write the result as JUnit XML' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -s c -l cluster -d 'The cluster definition' -r -F
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l format -d 'Output format [default: human on a terminal, JSON otherwise]' -r -f -a "human\t''
json\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -l yes -d 'Never prompt; take the default answer'
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sftpha -n "__fish_sftpha_using_subcommand test-failover" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand completions" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand completions" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand completions" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand completions" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand completions" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand man" -l color -d 'Colours in log lines: auto (a terminal without `NO_COLOR`), always, never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c sftpha -n "__fish_sftpha_using_subcommand man" -l list -d 'List every page\'s command, one per line (what `scripts/gen` writes to man/)'
complete -c sftpha -n "__fish_sftpha_using_subcommand man" -s v -l verbose -d 'More log output (-v: debug, -vv: trace)'
complete -c sftpha -n "__fish_sftpha_using_subcommand man" -s q -l quiet -d 'Less log output (-q: warnings and errors only, -qq: errors only)'
complete -c sftpha -n "__fish_sftpha_using_subcommand man" -s h -l help -d 'Print help'
complete -c sftpha -n "__fish_sftpha_using_subcommand man" -s V -l version -d 'Print version'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "init" -d 'Asks the day-zero questions and writes a commented cluster.toml and users.toml'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "assess" -d 'Risk assessment of cluster.toml: single points of failure, RTO and RPO per disruption, availability, capacity with a node down; --probe checks the live hosts'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "provision" -d 'Makes every host what cluster.toml says, over SSH: configs from the templates, one host key set, users, the sftpha binary, services; then verifies the cluster from outside'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "users" -d 'Users of the cluster: edits users.toml (comments kept) and pushes it to every node, which reloads without a restart; every node is checked to accept (or refuse) the keys. Exit 4 if a node did not take it'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "keys" -d 'The cluster\'s keys: host CA and known_hosts lines, user and host key rotation with no failed login'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "import" -d 'Imports an existing server into the cluster: users, keys and host keys, so partners change nothing'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "upgrade" -d 'Replaces the sftpha binary on every node, one node at a time (drain, swap, start, healthy with the same host key), with no failed login through the gateway'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "status" -d 'Live health of every node and gateway, and drift from the desired state (which file differs where). Exit 1 if anything is unhealthy or drifted'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "inventory" -d 'Prints the cluster as an Ansible dynamic inventory (JSON) for playbooks/provision.yml: every host with the variables the templates need'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "node" -d 'The bundled SFTP server'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "gateway" -d 'The bundled TCP gateway (load balancer with health checks)'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "lab" -d 'A whole cluster on 127.0.0.1: nodes, gateway, shared storage, a demo user'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "test-failover" -d 'Failover smoke test: workload, fault, detection and recovery measured, data verified'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "completions" -d 'Prints shell completions'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "man" -d 'Prints a man page (roff): sftpha(1), a command\'s, or a file format\'s'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and not __fish_seen_subcommand_from init assess provision users keys import upgrade status inventory node gateway lab test-failover completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "add" -d 'Adds a user: public keys (and/or a password), home, rights; pushes to every node'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "remove" -d 'Removes a user from every node (their files on the storage are kept)'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "list" -d 'Lists the users with their keys\' fingerprints'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from users" -f -a "set-key" -d 'Adds keys to a user or removes them by fingerprint; pushes to every node'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "init" -d 'Makes the cluster\'s missing keys beside cluster.toml (host key, host CA, probe key) and issues or renews host certificates; what `provision` does first'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "known-hosts" -d 'Prints the known_hosts lines clients add: the host CA (`@cert-authority`, added once, survives every rotation) and the host keys for clients that pin plain keys'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from keys" -f -a "rotate" -d 'Key rotations with no failed login: a user\'s key, or the cluster\'s host keys'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from import" -f -a "openssh" -d 'Reads an OpenSSH SFTP server over SSH (effective sshd config with Match blocks resolved, SFTP-only accounts, authorized keys, password hashes, host keys) into users.toml and the cluster\'s host keys. Files are not copied: the report gives the rsync commands. Exit 2 when something cannot be imported as it is (nothing written)'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "run" -d 'Runs the SFTP server in the foreground; logs go to stderr'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from node" -f -a "check" -d 'Validates node.toml, users.toml and the host keys, and prints what the node would serve'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from gateway" -f -a "run" -d 'Runs the gateway in the foreground; logs go to stderr'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from gateway" -f -a "supervise" -d 'Holds the gateway\'s listening sockets and runs `gateway run` on them, so that no login is refused while the gateway restarts'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "up" -d 'Starts N nodes, a gateway, shared storage and a demo user on 127.0.0.1'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "down" -d 'Stops every process of the lab (by pidfile; drains first). Safe to run twice'
complete -c sftpha -n "__fish_sftpha_using_subcommand help; and __fish_seen_subcommand_from lab" -f -a "status" -d 'Health of every process of the lab (a process stopped by SIGSTOP is shown as such); exit 1 if any is not healthy'
