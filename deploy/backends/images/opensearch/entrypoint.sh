#!/bin/bash
# One OpenSearch node in the foreground; its home, data and logs under /var/lib/opensearch (the
# volume). OPENSEARCH_HEAP: -Xms/-Xmx (default 512m). C1 only and the serial collector: half
# the boot on two cores, a small footprint. The launcher is the embedded server's
# (apps/gochat/embedded/GochatOpenSearch.java): cluster "gochat", HTTP on every address at
# 9200, transport on the pod's loopback at 9300.
set -euo pipefail
HEAP=${OPENSEARCH_HEAP:-512m}
exec java "-Xms$HEAP" "-Xmx$HEAP" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
  -Djava.security.manager=allow -Dlog4j2.disable.jmx=true -Djava.io.tmpdir=/tmp \
  -cp "/opt/opensearch/launcher.jar:/opt/opensearch/lib/*" \
  GochatOpenSearch /var/lib/opensearch/node gochat 0.0.0.0 9200 9300
