#!/bin/sh
# The `cohort` command of an installed bundle: the bundled agent on the bundled Node.js.
# /usr/local/bin/cohort is a symlink to this file; it finds its own tree through the link,
# so the same file works wherever the bundle was installed (/opt/cohort on a board).
here=$(dirname "$(readlink -f "$0")")
home=$(dirname "$here")
exec "$home/node/bin/node" "$home/app/dist/agent/cli.js" "$@"
