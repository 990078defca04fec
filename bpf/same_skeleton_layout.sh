#!/usr/bin/env bash
# same_skeleton_layout.sh A.skel.h NAME_A B.skel.h NAME_B: fails when two generated skeletons
# differ in anything but their embedded ELF bytes (maps, programs, global variables, their order),
# i.e. when B's object could not be opened through A's skeleton.
set -euo pipefail
layout() { sed -e "s/$2/SKEL/g" -e "s/${2^^}/SKEL/g" -e '/__elf_bytes(size_t \*sz)$/,$d' "$1"; }
if ! diff <(layout "$1" "$2") <(layout "$3" "$4") >&2; then
  echo "$3 does not have the layout of $1: keep maps, programs and globals of both builds equal" >&2
  exit 1
fi
