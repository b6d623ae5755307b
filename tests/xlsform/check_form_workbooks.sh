#!/usr/bin/env bash
# The pilots' workbooks in schemas/forms/ are made from their JSON by `tools/dev forms`. This
# writes them again into a folder of the build tree and compares them byte for byte with the
# checked-in ones: a JSON form changed without its workbook (or the other way round) fails.
#   check_form_workbooks.sh VELDCTL FORMS_DIR OUT_DIR
set -euo pipefail
veldctl="$1" forms="$2" out="$3"
rm -rf "$out"
mkdir -p "$out"
failed=0
for json in "$forms"/*.json; do
  name="$(basename "${json%.json}")"
  "$veldctl" form export "$json" -o "$out/$name.xlsx" >/dev/null
  if [ ! -e "$forms/$name.xlsx" ]; then
    echo "schemas/forms/$name.xlsx is missing"
    failed=1
  elif ! cmp -s "$out/$name.xlsx" "$forms/$name.xlsx"; then
    echo "schemas/forms/$name.xlsx differs from what schemas/forms/$name.json gives"
    failed=1
  fi
done
for xlsx in "$forms"/*.xlsx; do
  [ -e "$xlsx" ] || continue
  if [ ! -e "${xlsx%.xlsx}.json" ]; then
    echo "schemas/forms/$(basename "$xlsx") has no JSON form next to it"
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "the pilots' workbooks are out of date: run tools/dev forms and commit schemas/forms/*.xlsx"
  exit 1
fi
echo "every pilot workbook matches its JSON form"
