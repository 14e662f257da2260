#!/bin/sh
# The `cohort` command of an installed tree: <home>/bin/cohort runs <home>/app/dist/agent/cli.js
# on the tree's own Node.js (<home>/node, a bundle) or, without one, on the `node` on PATH
# (the Docker image, whose base image brings it). /usr/local/bin/cohort is a symlink to this
# file; it finds its tree through the link, wherever the tree was installed.
here=$(dirname "$(readlink -f "$0")")
home=$(dirname "$here")
node=node
if [ -x "$home/node/bin/node" ]; then node="$home/node/bin/node"; fi
exec "$node" "$home/app/dist/agent/cli.js" "$@"
