#!/bin/sh
# Ansible dynamic inventory: the cluster of $SFTPHA_CLUSTER (default ./cluster.toml) as
# `sftpha inventory` prints it. $SFTPHA names the sftpha binary (default: the one on PATH).
exec "${SFTPHA:-sftpha}" -c "${SFTPHA_CLUSTER:-cluster.toml}" inventory "$@"
