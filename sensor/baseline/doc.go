// Package baseline learns how the plant's masters talk to its devices and
// raises alerts when the traffic departs from it.
//
// # Learning
//
// For a learning period (Options.LearnFor of record time from the first
// record, or Options.LearnRecords requests, whichever ends first; one hour by
// default) every valid request record (sensor/analyze) updates the model:
//
//   - pairs: client → server, per protocol (Modbus, DNP3);
//   - the function codes used by each pair;
//   - the Modbus registers and coils read and written per pair, unit and
//     table (coils, discrete inputs, input registers, holding registers), and
//     the DNP3 points read and written or operated per pair, outstation link
//     address and object group, as compact sorted ranges (at most
//     Options.MaxRanges per set: when full, the two closest ranges merge and
//     the merge is counted);
//   - the values written to each holding register (minimum and maximum);
//   - the polling rhythm of each stream, a stream being the requests of a
//     pair with the same unit, function code and start address (for DNP3 the
//     group and variation of the first object): the mean and standard
//     deviation of the intervals between its requests.
//
// Responses are not learned: what a master asks is the model; the answers
// are the process. Times come from the records, so a replayed capture learns
// and alerts exactly like live traffic. A model saved with Model/WriteFile
// and given back in Options.Model skips learning. The model is frozen at the
// end of learning: deviations are not learned, so an attacker cannot train
// it away by repeating himself.
//
// # Deviations
//
// After learning, each request is checked in this order, and only its first
// deviation is reported (a new pair is not also a new function):
//
//   - baseline.new_pair (medium; high when it writes or commands): a client
//     talks to a server it never talked to. T0846 Remote System Discovery
//     when the request reads, T0855 Unauthorized Command Message (v19
//     T1692.001) when it writes or commands.
//   - baseline.new_function (medium): a known pair uses a function code it
//     never used. T0855/T1692.001 for commands (writes, diagnostics,
//     restarts, file and application control), T0888 Remote System
//     Information Discovery for reads and identification.
//   - baseline.new_write_register (high): a write to a register, coil or
//     point the pair never wrote. T0836 Modify Parameter and T0855/T1692.001:
//     a write where the process never receives one changes a parameter or an
//     output behind the operator's back.
//   - baseline.value_out_of_range (high): a value written to a holding
//     register outside the learned [min, max] widened by a margin of
//     Options.ValueMargin (10 %) of the larger of the span and the largest
//     magnitude, and at least 1. T0836 Modify Parameter, T0855/T1692.001.
//   - baseline.poll_rhythm (medium): a regular polling stream (at least
//     Options.MinPolls learned intervals (10), standard deviation at most
//     Options.MaxJitter of the mean) runs much faster or slower: the
//     exponentially weighted mean of its intervals (weight 1/4) leaves
//     [mean/F, mean·F] with F = Options.RhythmFactor (2), after at least
//     MinPolls intervals; or stops: no request for more than
//     Options.StopFactor (5) times the learned mean and at least
//     Options.MinSilence (10 s). A healthy HMI with ±20 % jitter keeps its
//     weighted mean within ±20 % of the learned one and never fires; one lost
//     poll moves it by a quarter of an interval. A stream that stopped is
//     re-armed when it resumes, a fast or slow one when it comes back within
//     [mean/√F, mean·√F]. A stop is tagged T0815 Denial of View and T0804
//     Block Reporting Message (v19 T1691.002): the operator's view of those
//     points is gone. A faster or slower rhythm has no technique: by itself
//     it shows a change, not an intent.
//
// Each deviation has a key (the pair; the pair and function; the pair, unit,
// table and address; the stream) and raises at most one alert per
// Options.Window (10 minutes) of record time. Stopped streams are looked for
// at most once a second of record time, on any record or on Advance, which
// the sensor calls when packets arrive but no record does.
//
// # Bounds
//
// Options.MaxPairs pairs (1024), MaxStreams streams (8192), MaxValues written
// registers with value ranges (8192), MaxRanges ranges per register set (64),
// MaxKeys suppression keys (4096). What does not fit is counted in Stats and
// in the saved model.
//
// A Baseline may be used from several goroutines; Observe is meant to be
// called from one pipeline goroutine, Model, Stats and Learning from any.
package baseline
