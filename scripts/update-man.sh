#!/bin/sh
# update-man.sh BIN MANPAGE: replace the tree reference of MANPAGE (the lines
# between the marker lines
#   .\" BEGIN LAYOUT
#   .\" END LAYOUT
# ) with the output of "BIN layout-man".  The markers themselves stay.
#
# BIN runs with an empty configuration (-c /dev/null), so the page shows the
# built-in layout and ranges, not those of a cloudfs.conf on this machine.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 BIN MANPAGE" >&2
    exit 2
fi
bin=$1
page=$2

begin='.\" BEGIN LAYOUT'
end='.\" END LAYOUT'

nbegin=$(grep -cxF "$begin" "$page" || true)
nend=$(grep -cxF "$end" "$page" || true)
if [ "$nbegin" != 1 ] || [ "$nend" != 1 ]; then
    echo "$0: $page must hold each of the lines '$begin' and '$end' exactly once" >&2
    exit 1
fi

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/update-man.XXXXXX")
trap 'rm -rf "$tmpdir"' EXIT

if ! "$bin" -c /dev/null layout-man > "$tmpdir/layout"; then
    echo "$0: $bin layout-man failed" >&2
    exit 1
fi

# The markers go through ENVIRON, not -v: -v would turn their \" into ".
BEGIN_MARK="$begin" END_MARK="$end" LAYOUT_FILE="$tmpdir/layout" awk '
    BEGIN { begin = ENVIRON["BEGIN_MARK"]; end = ENVIRON["END_MARK"]; layout = ENVIRON["LAYOUT_FILE"] }
    $0 == begin {
        print
        while ((getline line < layout) > 0)
            print line
        close(layout)
        skipping = 1
        seen_begin = 1
        next
    }
    $0 == end {
        if (!seen_begin)
            exit 3
        skipping = 0
    }
    !skipping { print }
' "$page" > "$tmpdir/page" || {
    echo "$0: $page: '$end' comes before '$begin'" >&2
    exit 1
}

if cmp -s "$tmpdir/page" "$page"; then
    exit 0
fi
# Rewrite in place, keeping the file's mode and owner.
cat "$tmpdir/page" > "$page"
echo "$page: tree reference updated"
