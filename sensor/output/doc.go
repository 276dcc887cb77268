// Package output carries the sensor's alerts to the systems a SOC already
// runs: CEF (ArcSight Common Event Format) over syslog, RFC 5424 framed, on
// UDP or TCP (RFC 6587 octet counting), and a SQLite file that can be queried
// by time range and rule.
//
// Every sink here implements alert.Sink. Emit never blocks: it puts the alert
// on a bounded queue that one goroutine drains to the network or the disk;
// when the queue is full the alert is dropped and counted. Close flushes what
// is queued, bounded by a deadline, and Stats reports the counters.
//
// The CEF field mapping is documented in README.md beside this file.
package output
