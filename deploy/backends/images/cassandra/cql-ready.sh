#!/bin/bash
# Ready means serving CQL: the native transport (opened last, once start-up is complete)
# answers an OPTIONS request (protocol v4, opcode 0x05) with SUPPORTED (opcode 0x06).
set -euo pipefail
exec 3<>/dev/tcp/127.0.0.1/9042
printf '\x04\x00\x00\x01\x05\x00\x00\x00\x00' >&3
reply=$(timeout 2 head -c 5 <&3 | od -An -tx1 | tr -d ' \n')
[ "${reply:8:2}" = "06" ]
