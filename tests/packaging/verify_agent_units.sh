#!/bin/bash
# Checks veld-agent's systemd user units with systemd-analyze verify, as installed: ExecStart
# pointed at the veld-agent just built, and the man page its Documentation= names findable.
# usage: verify_agent_units.sh SOURCE_DIR VELD_AGENT
set -euo pipefail
src="$1"
agent="$2"
tmp="$(mktemp -d -t veld-units.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/man/man1" "$tmp/runtime"
chmod 700 "$tmp/runtime"
sed "s|^ExecStart=/usr/bin/veld-agent|ExecStart=$agent|" \
  "$src/packaging/systemd/user/veld-agent.service" > "$tmp/units/veld-agent.service"
grep -q "^ExecStart=$agent\$" "$tmp/units/veld-agent.service"
cp "$src/packaging/systemd/user/veld-agent.timer" "$tmp/units/"
cp "$src/packaging/man/veld-agent.1" "$tmp/man/man1/"
cd "$tmp/units"
# Any complaint (an unknown option, a bad value, a missing man page) is a failure.
out="$(MANPATH="$tmp/man:" XDG_RUNTIME_DIR="$tmp/runtime" \
  systemd-analyze verify --user ./veld-agent.service ./veld-agent.timer 2>&1)" || {
  echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "veld-agent.service and veld-agent.timer verified"
