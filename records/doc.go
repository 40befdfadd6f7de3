// Package records turns packets into rows that any SQL engine reads: a
// packet record per packet and a flow record per bidirectional flow,
// written as Parquet files in Hive-style partitions
// (date=YYYY-MM-DD/hour=HH/) that DuckDB, Spark, Drill and Trino read in
// place. It is what `pcapstore records` runs, from a directory of
// captures (the sink's store or any other) or from the packet topic.
//
// A packet is decoded once, through index.Decode: the walk the sidecar
// indexes and `pcapstore query -tunnels` read packets with, through
// VLAN tags, MPLS and every tunnel it enters. A record holds the
// innermost IP header and what follows it, and the outermost IP header
// when there is more than one. Flows (Table) are keyed on the innermost
// 5-tuple, the outer VLAN tags and the tunnel's outer addresses; each
// carries its Community ID (v1, seed 0) and the captures it came from.
//
// Files are written hidden and published whole (internal/atomicfile),
// row groups bounded in rows, every column zstd-compressed; a file
// never replaces another. The schema of each kind is versioned
// (SchemaVersion, in each file's key-value metadata) and documented in
// the README.
//
// ReadFlowSpans reads flow records back for `pcapstore serve`'s
// histogram: when and how much, six columns of them, from the partitions
// and row groups that can hold a time range.
//
// It never reads a file still being written (store.Walk's
// classification says which entries are captures) and never writes a
// packet's bytes: rows only.
package records
