// Package assets keeps the sensor's inventory of the hosts it sees talking
// Modbus/TCP and DNP3: addresses, MAC addresses, inferred roles, protocols,
// Modbus unit ids and DNP3 link addresses, function codes used as client and
// as server, device identification read with Modbus FC 43/14, peers, first and
// last seen, counts. It raises an alert when a new asset or a new
// master→device relationship appears, persists the inventory to SQLite, and
// prints it as a table or JSON for `otrange sensor assets`.
//
// # Where it sits
//
// The sensor hands every analyzer record (sensor/analyze) to
// Inventory.Observe together with the link-layer addresses of the packet that
// completed it. All times come from the records, so replaying a capture builds
// the same inventory as watching it live. Observe is called from one pipeline
// goroutine; Snapshot, Get and Stats may be called from any goroutine at the
// same time (the HTTP API, the CLI, the store's periodic save).
//
// # Roles
//
// The role is inferred when a snapshot is taken, from what the host did:
//
//   - A host that answers Modbus requests is a PLC (kind "server"); one that
//     answers DNP3 requests or sends unsolicited responses is an RTU (kind
//     "outstation"). A host that serves is a device, even if it also polls
//     others (a PLC reading remote I/O, a gateway): the device role wins.
//   - A client (Modbus client, DNP3 master) that used an engineering
//     function is an engineering workstation: Modbus FC 8 (diagnostics),
//     17 (report server id), 20/21 (file records), 43 (device
//     identification), and the vendor programming codes 90 (Schneider UMAS),
//     125 and 126 (Modicon program download); DNP3 cold/warm restart (13,
//     14), initialize data/application (15, 16), start/stop application (17,
//     18), save/activate configuration (19, 31) and file operations (25-30).
//   - A client that never writes and polls slowly (every polling stream at
//     Options.SlowPoll or slower, 5 s by default) many points (at least
//     Options.HistorianPoints registers or points per cycle, 32 by default)
//     is a historian.
//   - A client that polls on a regular rhythm several devices
//     (Options.HMIDevices, 2 by default), or polls one device and also writes
//     to it (operator commands), is an HMI.
//   - Anything else is "unknown", with its kinds still listed.
//
// A polling stream is the requests of one client to one server with the same
// function code and start address; it is regular once Options.MinPolls
// intervals were seen with a coefficient of variation (standard deviation /
// mean) of at most Options.MaxJitter. Up to 8 streams are followed per
// relationship; the points per cycle are the sum of the quantities of these
// streams.
//
// These heuristics follow the facts GRASSMARLIN uses (which side serves, which
// functions a host sends) and share their limits: a role is only as good as
// the traffic seen (an engineering workstation that has only read looks like
// an HMI until it does engineering; a scanner that reads device
// identification is classed as an engineering workstation, which is what it
// pretends to be); a client polling one device read-only is left "unknown"
// (it may be an HMI, a SCADA front end or a data concentrator); a DNP3 master
// is judged by the same rhythm rules as a Modbus client; protocols other than
// Modbus and DNP3 are not seen at all. The role is a hint for an analyst, not a
// fact.
//
// # Events
//
// After Options.QuietPeriod of record time from the first record (so that a
// sensor started on a busy network does not flood), a host never seen before
// raises `asset.new`, and the first request of a client to a server (per
// protocol) raises `asset.new_relationship`. Both are low severity. A new
// host that speaks as a client or master is tagged T0848 (Rogue Master);
// a new device is not, by itself, a technique. A new relationship is tagged
// T0846 (Remote System Discovery) when its first request reads or
// identifies, and T0855 (Unauthorized Command Message, v19 T1692.001) when it
// writes or commands: a master talking to a controller it never talked to is
// how both look on the wire. Assets loaded from the store are known: they
// raise no event.
//
// # Bounds
//
// Options.MaxAssets hosts (4096 by default), Options.MaxPeers relationships
// per host (256), 4 MAC addresses per host, 16 DNP3 link addresses per host,
// 32 identification objects of at most 128 bytes each. What does not fit is
// counted in Stats and in the asset (peers_dropped, macs_dropped).
package assets
