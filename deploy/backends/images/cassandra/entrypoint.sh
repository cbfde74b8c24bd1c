#!/bin/bash
# Cassandra in the foreground, logging to stdout, data under /var/lib/cassandra (the volume).
# POD_IP: the address clients are told to use (the downward API's status.podIP).
# CASSANDRA_HEAP: -Xmx (default 768M). The start-up flags are those of
# apps/gochat/embedded/cassandra.py minus the ones that trade durability for speed
# (unsafesystem, skip_sync): one node needs no gossip settling and no ring delay.
set -euo pipefail
: "${POD_IP:?set POD_IP (fieldRef status.podIP)}"
HEAP=${CASSANDRA_HEAP:-768M}
LIB=/opt/cassandra/lib
CONF=/tmp/cassandra
mkdir -p "$CONF" /var/lib/cassandra/data
sed "s/@POD_IP@/$POD_IP/" /opt/cassandra/conf/cassandra.yaml > "$CONF/cassandra.yaml"
opens=()
for pkg in java.base/jdk.internal.misc java.base/jdk.internal.ref java.base/sun.nio.ch \
    java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
    java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc; do
  opens+=(--add-exports "$pkg=ALL-UNNAMED")
done
for pkg in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
    java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
    java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal \
    java.base/sun.nio.ch java.base/java.io java.base/java.nio java.base/java.util.concurrent \
    java.base/java.util java.base/java.util.concurrent.atomic java.base/java.lang \
    java.base/java.math java.base/java.lang.reflect java.base/java.net; do
  opens+=(--add-opens "$pkg=ALL-UNNAMED")
done
exec java "${opens[@]}" \
  -Xms256M "-Xmx$HEAP" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
  -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=0 \
  -Dcassandra.load_ring_state=false -Dcassandra.superuser_setup_delay_ms=0 \
  -Dcassandra.memtable.row_overhead_size=180 \
  -Djdk.attach.allowAttachSelf=true "-javaagent:$LIB/jamm-0.4.0.jar" \
  -Djava.io.tmpdir=/tmp \
  "-Dcassandra.config=file://$CONF/cassandra.yaml" \
  -Dlogback.configurationFile=file:///opt/cassandra/conf/logback.xml \
  -Dcassandra.logdir=/tmp -Dcassandra.storagedir=/var/lib/cassandra \
  -Dcassandra-foreground=yes \
  -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon
