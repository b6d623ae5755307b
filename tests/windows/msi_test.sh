#!/usr/bin/env bash
# The Windows installer under Wine, as an IT department deploys it (docs/windows.md, "Installing
# with an MSI"), in a Wine prefix of its own:
#
#   1. a Linux veld-collector on loopback makes a provisioning file (veldctl collector provision)
#   2. msiexec /i with a damaged provisioning file fails and leaves nothing installed; then
#      msiexec /i veld-VERSION.msi /qn VELDENROL=C:\deploy\laptop-07.veldenrol: the programs and
#      fonts land in Program Files\Veld, the Start menu has Veld and Veld-console, the
#      provisioning file is in ProgramData\Veld
#   3. veld.exe's first start, without a display: it enrols the user's default profile from the
#      ProgramData file, and the collector lists the device
#   4. the same programs as an MSI with a higher version: upgraded in place (one entry in the
#      uninstall list, the new version)
#   5. msiexec /x /qn: Program Files\Veld and the Start menu entries are gone, the profile in
#      %LOCALAPPDATA%\Veld is still there
#
# Prints how long each step took. Exit 0 when all held, 1 at the first that did not.
#
#   tests/windows/msi_test.sh [--msi FILE] [--windows-bin DIR] [--linux-bin DIR]
#
# --msi: the installer (default: the only build/windows/veld-*.msi); --windows-bin: the folder
# its programs came from, for the higher version (default build/windows/bin); --linux-bin: where
# veldctl and veld-collector for Linux are (default build/bin).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
msi="" winbin="$root/build/windows/bin" linbin="$root/build/bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --msi) msi="$2"; shift 2 ;;
    --windows-bin) winbin="$2"; shift 2 ;;
    --linux-bin) linbin="$2"; shift 2 ;;
    *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
if [ -z "$msi" ]; then
  shopt -s nullglob
  found=("$root"/build/windows/veld-*.msi)
  shopt -u nullglob
  [ ${#found[@]} -eq 1 ] || { echo "msi_test: expected one build/windows/veld-*.msi, found ${#found[@]}" >&2; exit 2; }
  msi="${found[0]}"
fi
version="$(basename "$msi" .msi)"
version="${version#veld-}"
[[ "$version" =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || { echo "msi_test: no version in $msi" >&2; exit 2; }
newer="${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.$((BASH_REMATCH[3] + 1))"

wine=/usr/lib/wine/wine64
tmp="$(mktemp -d -t veld-msi-test.XXXXXX)"
export WINEPREFIX="$tmp/wine" WINEDEBUG=-all
# No menu entries or file associations on this machine from what the MSI installs in Wine.
export WINEDLLOVERRIDES="winemenubuilder.exe=d"
collector_pid=""
cleanup() {
  [ -n "$collector_pid" ] && { kill -TERM "$collector_pid" 2>/dev/null || true; wait "$collector_pid" 2>/dev/null || true; }
  [ -d "$WINEPREFIX" ] && WINEPREFIX="$WINEPREFIX" /usr/lib/wine/wineserver -k 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "msi_test: FAIL: $*" >&2; exit 1; }
ok() { echo "msi_test: ok: $*"; }
now() { date +%s.%N; }
took() { printf '%.1f s' "$(echo "$(now) - $1" | bc)"; }
timings=()

# The Unix path of a Windows path in the prefix, and the other way round.
unix_path() { "$wine" winepath.exe -u "$1" 2>/dev/null | tr -d '\r'; }
windows_path() { "$wine" winepath.exe -w "$1" 2>/dev/null | tr -d '\r'; }
# One uninstall entry per line: "NAME VERSION".
uninstall_entries() {
  "$wine" reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null |
    tr -d '\r' | awk '/^HKEY/ {if (n != "") print n, v; n = ""; v = ""}
      $1 == "DisplayName" {n = $3} $1 == "DisplayVersion" {v = $3}
      END {if (n != "") print n, v}' | grep '^Veld ' || true
}

echo "msi_test: $msi (version $version; upgrade to $newer), Wine prefix $WINEPREFIX"
t="$(now)"
"$wine" wineboot -i >/dev/null 2>&1 || fail "wineboot could not make the Wine prefix"
timings+=("new Wine prefix: $(took "$t")")

# 1. A collector on loopback and a provisioning file from it.
"$linbin/veldctl" collector init "$tmp/collector.db" >/dev/null
"$linbin/veld-collector" --store "$tmp/collector.db" --port 0 --port-file "$tmp/port" \
  >"$tmp/collector.log" 2>&1 &
collector_pid=$!
for _ in $(seq 100); do
  [ -s "$tmp/port" ] && break
  kill -0 "$collector_pid" 2>/dev/null || { cat "$tmp/collector.log" >&2; fail "veld-collector did not start"; }
  sleep 0.1
done
[ -s "$tmp/port" ] || fail "veld-collector did not say its port"
url="http://127.0.0.1:$(cat "$tmp/port")"
deploy="$WINEPREFIX/drive_c/deploy"
mkdir -p "$deploy"
"$linbin/veldctl" collector provision "$tmp/collector.db" --label laptop-07 --url "$url" \
  --valid 1 -o "$deploy/laptop-07.veldenrol" >/dev/null
ok "collector on $url, provisioning file laptop-07.veldenrol"

programs="$(unix_path 'C:\Program Files\Veld')"
machine="$(unix_path 'C:\ProgramData\Veld')"

# 2. A file that is not a provisioning file fails the installation, which leaves nothing behind.
printf 'not a provisioning file\n' >"$deploy/damaged.veldenrol"
rc=0
"$wine" msiexec /i "$(windows_path "$msi")" /qn 'VELDENROL=C:\deploy\damaged.veldenrol' || rc=$?
[ "$rc" -ne 0 ] || fail "msiexec accepted a damaged VELDENROL"
[ ! -e "$programs/veld.exe" ] || fail "the failed installation left Program Files\\Veld\\veld.exe"
[ -z "$(uninstall_entries)" ] || fail "the failed installation left '$(uninstall_entries)' in the uninstall list"
ok "a damaged VELDENROL fails the installation (exit $rc) and leaves nothing installed"

# Silent installation with the provisioning file.
t="$(now)"
"$wine" msiexec /i "$(windows_path "$msi")" /qn 'VELDENROL=C:\deploy\laptop-07.veldenrol' || fail "msiexec /i exited with $?"
timings+=("install (msiexec /i /qn): $(took "$t")")
for f in veld.exe veld-console.exe veldctl.exe fonts/DejaVuSans.ttf fonts/AbyssinicaSIL-Regular.ttf \
  fonts/NotoSansArabic-Regular.ttf; do
  [ -f "$programs/$f" ] || fail "Program Files\\Veld\\$f is missing after the installation"
done
ok "programs and fonts in Program Files\\Veld"
cmp -s "$deploy/laptop-07.veldenrol" "$machine/laptop-07.veldenrol" ||
  fail "ProgramData\\Veld\\laptop-07.veldenrol is missing or differs from VELDENROL"
ok "the provisioning file is in ProgramData\\Veld"
# Wine keeps a per-machine installation's shortcuts in the installing user's Start menu, Windows
# in ProgramData's: either holds them.
common_menu="$(unix_path 'C:\ProgramData\Microsoft\Windows\Start Menu\Programs')"
user_menu="$(unix_path "$("$wine" cmd /c 'echo %APPDATA%' 2>/dev/null | tr -d '\r')\\Microsoft\\Windows\\Start Menu\\Programs")"
menu=""
for m in "$common_menu" "$user_menu"; do
  [ -f "$m/Veld.lnk" ] && menu="$m"
done
[ -n "$menu" ] || fail "no Veld.lnk in the Start menu"
[ -f "$menu/Veld-console.lnk" ] || fail "no Veld-console.lnk in the Start menu"
ok "Start menu: Veld.lnk and Veld-console.lnk"
[ "$(uninstall_entries)" = "Veld $version" ] || fail "uninstall list: '$(uninstall_entries)', not 'Veld $version'"
ok "uninstall list: Veld $version"

# 3. The first start, without a display: veld.exe enrols the default profile from the
# provisioning file and exits (it cannot open a window).
localappdata="$(unix_path "$("$wine" cmd /c 'echo %LOCALAPPDATA%' 2>/dev/null | tr -d '\r')")"
store="$localappdata/Veld/profiles/default/device.veld"
[ ! -e "$store" ] || fail "a profile exists before the first start"
t="$(now)"
rc=0
env -u DISPLAY -u WAYLAND_DISPLAY timeout 300 "$wine" 'C:\Program Files\Veld\veld.exe' \
  >"$tmp/first-start.log" 2>&1 || rc=$?
timings+=("first start of veld.exe (enrolment): $(took "$t")")
tr -d '\r' <"$tmp/first-start.log" | grep -v '^$' | sed 's/^/  veld.exe: /' || true
[ "$rc" -eq 0 ] || fail "veld.exe's first start exited with $rc"
grep -q 'enrolled .* as "laptop-07"' "$tmp/first-start.log" || fail "veld.exe did not say it enrolled"
[ -f "$store" ] || fail "no profile store at %LOCALAPPDATA%\\Veld\\profiles\\default\\device.veld"
"$linbin/veldctl" collector devices "$tmp/collector.db" >"$tmp/devices.txt"
grep -q '  laptop-07  enrolled ' "$tmp/devices.txt" || { cat "$tmp/devices.txt" >&2; fail "the collector does not list laptop-07"; }
ok "first start enrolled the profile; the collector lists laptop-07"
# A second start does nothing more with the spent file.
env -u DISPLAY -u WAYLAND_DISPLAY timeout 300 "$wine" 'C:\Program Files\Veld\veld.exe' \
  >"$tmp/second-start.log" 2>&1 || true
if grep -q 'enrol' "$tmp/second-start.log"; then fail "the second start tried to enrol again"; fi
[ "$(grep -c '  laptop-07  ' "$tmp/devices.txt")" -eq 1 ] || fail "laptop-07 is listed more than once"
ok "the second start left the enrolment alone"

# 4. A newer version over it.
"$root/packaging/windows/make-msi" --bin "$winbin" --icon "$winbin/../client/icon/veld.ico" \
  --version "$newer" --out "$tmp/veld-$newer.msi"
t="$(now)"
"$wine" msiexec /i "$(windows_path "$tmp/veld-$newer.msi")" /qn ||
  fail "msiexec /i (upgrade) exited with $?"
timings+=("upgrade (msiexec /i /qn): $(took "$t")")
[ "$(uninstall_entries)" = "Veld $newer" ] || fail "after the upgrade the uninstall list says '$(uninstall_entries)', not 'Veld $newer'"
[ -f "$programs/veld.exe" ] || fail "veld.exe is gone after the upgrade"
[ -f "$store" ] || fail "the profile is gone after the upgrade"
ok "upgraded in place: one entry, Veld $newer"

# 5. Uninstall: the programs go, the profile stays.
t="$(now)"
"$wine" msiexec /x "$(windows_path "$tmp/veld-$newer.msi")" /qn ||
  fail "msiexec /x exited with $?"
timings+=("uninstall (msiexec /x /qn): $(took "$t")")
if [ -d "$programs" ] && [ -n "$(find "$programs" -mindepth 1 -print -quit)" ]; then
  find "$programs" >&2
  fail "Program Files\\Veld is not empty after uninstalling"
fi
[ ! -e "$menu/Veld.lnk" ] && [ ! -e "$menu/Veld-console.lnk" ] || fail "a Start menu entry is left"
[ -z "$(uninstall_entries)" ] || fail "the uninstall list still has '$(uninstall_entries)'"
[ ! -e "$machine/laptop-07.veldenrol" ] || fail "the provisioning file is left in ProgramData\\Veld"
[ -f "$store" ] || fail "uninstalling removed the profile %LOCALAPPDATA%\\Veld\\profiles\\default"
ok "uninstalled: Program Files\\Veld empty, no Start menu entries, the profile kept"

echo "msi_test: timings"
for line in "${timings[@]}"; do echo "  $line"; done
echo "msi_test: passed"
