package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errBad marks a record that could not be read.
var errBad = errors.New("validate: bad record")

// eveLine is the part of a Suricata EVE JSON event (and of otrange's own
// JSON alert lines) that scoring reads.
type eveLine struct {
	Timestamp string `json:"timestamp"`
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   int    `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  int    `json:"dest_port"`
	Alert     *struct {
		SignatureID int64               `json:"signature_id"`
		Signature   string              `json:"signature"`
		Category    string              `json:"category"`
		Metadata    map[string][]string `json:"metadata"`
	} `json:"alert"`
	// otrange's alert lines (sensor/alert.Alert).
	Time       string   `json:"time"`
	RuleID     string   `json:"rule_id"`
	RuleName   string   `json:"rule_name"`
	SrcAddr    string   `json:"src_addr"`
	DstAddr    string   `json:"dst_addr"`
	DstPort    int      `json:"dst_port"`
	Techniques []string `json:"techniques"`
}

// eveTimeLayouts are Suricata's timestamp ("2024-01-02T03:04:05.123456+0000")
// and RFC 3339.
var eveTimeLayouts = []string{"2006-01-02T15:04:05.999999999-0700", time.RFC3339Nano}

func parseTimeLayouts(s string, layouts []string) (time.Time, error) {
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time %q", errBad, s)
}

func port(n int) (uint16, error) {
	if n < 0 || n > 65535 {
		return 0, fmt.Errorf("%w: port %d", errBad, n)
	}
	return uint16(n), nil
}

// ParseEVE reads one line of Suricata EVE JSON: "alert" events are
// alerts, "modbus" and "dnp3" events are log records, other events are
// skipped. otrange's own JSON alert lines are read too.
func ParseEVE(line []byte) (Alert, bool, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Alert{}, false, nil
	}
	var e eveLine
	if err := json.Unmarshal(line, &e); err != nil {
		return Alert{}, false, fmt.Errorf("%w: %v", errBad, err)
	}
	var a Alert
	var err error
	switch {
	case e.EventType == "alert" && e.Alert != nil:
		a.Rule = e.Alert.Signature
		a.Name = "sid " + strconv.FormatInt(e.Alert.SignatureID, 10)
		var meta []string
		for k, vs := range e.Alert.Metadata {
			meta = append(meta, k+"="+strings.Join(vs, ","))
		}
		slices.Sort(meta)
		a.Techniques = techniquesIn(append(meta, e.Alert.Signature)...)
	case e.EventType == "modbus" || e.EventType == "dnp3":
		a.Rule, a.Name, a.Log = e.EventType, e.EventType+" transaction", true
	case e.EventType == "" && e.RuleID != "" && e.Time != "":
		a.Rule, a.Name, a.Techniques = e.RuleID, e.RuleName, e.Techniques
		e.Timestamp, e.SrcIP, e.DestIP, e.DestPort = e.Time, e.SrcAddr, e.DstAddr, e.DstPort
	default:
		return Alert{}, false, nil
	}
	if a.Time, err = parseTimeLayouts(e.Timestamp, eveTimeLayouts); err != nil {
		return Alert{}, false, err
	}
	a.Src, a.Dst = parseAddr(e.SrcIP), parseAddr(e.DestIP)
	if !a.Src.IsValid() && !a.Dst.IsValid() {
		return Alert{}, false, fmt.Errorf("%w: no addresses", errBad)
	}
	if a.SrcPort, err = port(e.SrcPort); err != nil {
		return Alert{}, false, err
	}
	if a.DstPort, err = port(e.DestPort); err != nil {
		return Alert{}, false, err
	}
	return a, true, nil
}

// ReadZeek reads Zeek logs: a folder's notice*.log (alerts) and the ICSNPP
// modbus*.log and dnp3*.log (log records), or one such file. TSV logs
// (with their #fields header) and JSON logs are both read.
func ReadZeek(path string) ([]Alert, ReadStats, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, ReadStats{}, err
	}
	files := []string{path}
	if fi.IsDir() {
		files = nil
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, ReadStats{}, err
		}
		for _, e := range ents {
			n := e.Name()
			if !e.IsDir() && strings.HasSuffix(n, ".log") &&
				(strings.HasPrefix(n, "notice") || strings.HasPrefix(n, "modbus") || strings.HasPrefix(n, "dnp3")) {
				files = append(files, filepath.Join(path, n))
			}
		}
		if len(files) == 0 {
			return nil, ReadStats{}, fmt.Errorf("%s: no notice, modbus or dnp3 log", path)
		}
	}
	var out []Alert
	var st ReadStats
	for _, f := range files {
		z := &ZeekParser{Path: strings.TrimSuffix(filepath.Base(f), ".log")}
		as, s, err := readFile(f, z.Parse)
		st.add(s)
		if err != nil {
			return nil, st, err
		}
		for _, a := range as {
			if len(out) >= MaxAlerts {
				st.Dropped++
				continue
			}
			out = append(out, a)
		}
	}
	return out, st, nil
}

// ZeekParser reads the lines of one Zeek log, TSV or JSON. Path is the
// log's name ("notice", "modbus", "dnp3_control", ...); a TSV #path header
// overrides it. Notices are alerts; every other log's lines are log records.
type ZeekParser struct {
	Path   string
	sep    string
	fields []string
	unset  string
	empty  string
}

// Parse implements a line parser for readLines.
func (z *ZeekParser) Parse(line []byte) (Alert, bool, error) {
	s := string(line)
	if z.sep == "" {
		z.sep, z.unset, z.empty = "\t", "-", "(empty)"
	}
	switch {
	case strings.TrimSpace(s) == "":
		return Alert{}, false, nil
	case strings.HasPrefix(s, "#"):
		z.header(s)
		return Alert{}, false, nil
	case strings.HasPrefix(strings.TrimSpace(s), "{"):
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return Alert{}, false, fmt.Errorf("%w: %v", errBad, err)
		}
		rec := map[string]string{}
		flatten("", m, rec)
		path := z.Path
		if p := rec["_path"]; p != "" {
			path = p
		}
		return zeekRecord(path, rec)
	}
	if z.fields == nil {
		return Alert{}, false, fmt.Errorf("%w: a TSV line before the #fields header", errBad)
	}
	vals := strings.Split(s, z.sep)
	if len(vals) != len(z.fields) {
		return Alert{}, false, fmt.Errorf("%w: %d values for %d fields", errBad, len(vals), len(z.fields))
	}
	rec := make(map[string]string, len(vals))
	for i, v := range vals {
		if v != z.unset && v != z.empty {
			rec[z.fields[i]] = v
		}
	}
	return zeekRecord(z.Path, rec)
}

// header reads a TSV header line.
func (z *ZeekParser) header(s string) {
	key, val, _ := strings.Cut(strings.TrimPrefix(s, "#"), z.sep)
	if key == "separator" || strings.HasPrefix(key, "separator ") {
		v := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(s, "#separator"), " "))
		if u, err := strconv.Unquote(`"` + v + `"`); err == nil && u != "" {
			z.sep = u
		}
		return
	}
	switch key {
	case "fields":
		z.fields = strings.Split(val, z.sep)
	case "path":
		z.Path = val
	case "unset_field":
		z.unset = val
	case "empty_field":
		z.empty = val
	}
}

// flatten turns nested JSON objects into dotted keys (Zeek's JSON writer
// may nest "id").
func flatten(prefix string, m map[string]any, out map[string]string) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch x := v.(type) {
		case map[string]any:
			flatten(key, x, out)
		case string:
			out[key] = x
		case float64:
			out[key] = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			out[key] = strconv.FormatBool(x)
		case []any:
			var parts []string
			for _, e := range x {
				parts = append(parts, fmt.Sprint(e))
			}
			out[key] = strings.Join(parts, ",")
		}
	}
}

// zeekRecord builds an alert from a Zeek record.
func zeekRecord(path string, rec map[string]string) (Alert, bool, error) {
	notice := strings.HasPrefix(path, "notice")
	if !notice && !strings.HasPrefix(path, "modbus") && !strings.HasPrefix(path, "dnp3") {
		return Alert{}, false, nil
	}
	var a Alert
	ts, ok := rec["ts"]
	if !ok {
		return Alert{}, false, fmt.Errorf("%w: no ts", errBad)
	}
	t, err := zeekTime(ts)
	if err != nil {
		return Alert{}, false, err
	}
	a.Time = t
	a.Src, a.Dst = parseAddr(rec["id.orig_h"]), parseAddr(rec["id.resp_h"])
	sp, dp := rec["id.orig_p"], rec["id.resp_p"]
	if notice && !a.Src.IsValid() && !a.Dst.IsValid() {
		a.Src, a.Dst = parseAddr(rec["src"]), parseAddr(rec["dst"])
		dp = rec["p"]
	}
	if !a.Src.IsValid() && !a.Dst.IsValid() {
		return Alert{}, false, fmt.Errorf("%w: no addresses", errBad)
	}
	if a.SrcPort, err = zeekPort(sp); err != nil {
		return Alert{}, false, err
	}
	if a.DstPort, err = zeekPort(dp); err != nil {
		return Alert{}, false, err
	}
	if notice {
		a.Rule, a.Name = rec["note"], rec["msg"]
		a.Techniques = techniquesIn(rec["note"], rec["msg"], rec["sub"])
		return a, true, nil
	}
	a.Log = true
	a.Rule = path
	for _, k := range []string{"func", "fc_request", "function_code", "fc"} {
		if v := rec[k]; v != "" {
			a.Name = path + " " + v
			break
		}
	}
	return a, true, nil
}

// zeekTime reads a Zeek timestamp: epoch seconds with a fraction, or ISO
// 8601 (JSON logs written with JSON::TS_ISO8601).
func zeekTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
			return time.Time{}, fmt.Errorf("%w: ts %q", errBad, s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC(), nil
	}
	return parseTimeLayouts(s, []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"})
}

// zeekPort reads a port field ("502", "502/tcp", "" when unset).
func zeekPort(s string) (uint16, error) {
	s, _, _ = strings.Cut(s, "/")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%w: port %q", errBad, s)
	}
	return uint16(n), nil
}

// ParseCEF reads one CEF record, bare or after a syslog header: the
// signature id and name, the time (rt, else start or end, else the syslog
// header's RFC 5424 timestamp), the addresses and ports (short and long
// key names, IPv6 in c6a2/c6a3) and technique ids in the custom strings
// or the name. Lines without "CEF:" are skipped.
func ParseCEF(line []byte) (Alert, bool, error) {
	s := string(line)
	i := strings.Index(s, "CEF:")
	if i < 0 {
		return Alert{}, false, nil
	}
	prefix, body := s[:i], s[i+len("CEF:"):]
	hdr, ext, err := cefHeader(body)
	if err != nil {
		return Alert{}, false, err
	}
	kv := cefExtension(ext)
	a := Alert{Rule: hdr[3], Name: hdr[4]}
	for _, k := range []string{"rt", "start", "end", "receiptTime"} {
		if v, ok := kv[k]; ok {
			if a.Time, err = cefTime(v); err != nil {
				return Alert{}, false, err
			}
			break
		}
	}
	if a.Time.IsZero() {
		if a.Time, err = syslogTime(prefix); err != nil {
			return Alert{}, false, fmt.Errorf("%w: no time", errBad)
		}
	}
	a.Src = firstAddr(kv, "src", "sourceAddress", "c6a2", "sourceTranslatedAddress")
	a.Dst = firstAddr(kv, "dst", "destinationAddress", "c6a3", "destinationTranslatedAddress")
	if !a.Src.IsValid() && !a.Dst.IsValid() {
		return Alert{}, false, fmt.Errorf("%w: no addresses", errBad)
	}
	if a.SrcPort, err = firstPort(kv, "spt", "sourcePort"); err != nil {
		return Alert{}, false, err
	}
	if a.DstPort, err = firstPort(kv, "dpt", "destinationPort"); err != nil {
		return Alert{}, false, err
	}
	texts := []string{a.Name}
	for _, k := range []string{"cs1", "cs2", "cs3", "cs4", "cs5", "cs6", "deviceCustomString1", "deviceCustomString2",
		"deviceCustomString3", "deviceCustomString4", "deviceCustomString5", "deviceCustomString6", "cat"} {
		if v, ok := kv[k]; ok {
			texts = append(texts, v)
		}
	}
	a.Techniques = techniquesIn(texts...)
	return a, true, nil
}

// cefHeader splits "Version|Vendor|Product|DevVersion|SignatureID|Name|Severity|Extension"
// on unescaped pipes; it returns the six fields after the version
// (unescaped) and the extension.
func cefHeader(body string) ([]string, string, error) {
	var fields []string
	var cur strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == '\\' && i+1 < len(body) {
			i++
			cur.WriteByte(body[i])
			continue
		}
		if c == '|' {
			fields = append(fields, cur.String())
			cur.Reset()
			if len(fields) == 7 {
				return fields[1:], body[i+1:], nil
			}
			continue
		}
		cur.WriteByte(c)
	}
	return nil, "", fmt.Errorf("%w: CEF header has %d of 7 fields", errBad, len(fields))
}

// cefExtension splits "k1=v1 k2=v two k3=v3" into keys and unescaped
// values: a value runs until the next space followed by key=.
func cefExtension(ext string) map[string]string {
	kv := map[string]string{}
	type span struct{ key, start, end int } // key start, value start, value end
	var spans []span
	for i := 0; i < len(ext); i++ {
		if i > 0 && ext[i-1] != ' ' {
			continue
		}
		j := i
		for j < len(ext) && isCEFKeyByte(ext[j]) {
			j++
		}
		if j == i || j >= len(ext) || ext[j] != '=' {
			continue
		}
		if n := len(spans); n > 0 {
			spans[n-1].end = i - 1
		}
		spans = append(spans, span{key: i, start: j + 1, end: len(ext)})
		i = j
	}
	for _, sp := range spans {
		eq := strings.IndexByte(ext[sp.key:], '=') + sp.key
		key := ext[sp.key:eq]
		end := max(sp.end, sp.start)
		kv[key] = cefUnescape(strings.TrimRight(ext[sp.start:end], " "))
	}
	return kv
}

func isCEFKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '[' || c == ']' || c == '-'
}

// cefUnescape undoes \\, \=, \n and \r.
func cefUnescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// cefTime reads a CEF time: epoch milliseconds, or "MMM dd yyyy HH:mm:ss"
// with optional milliseconds and zone, or RFC 3339.
func cefTime(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms < 0 || ms > 1<<45 {
			return time.Time{}, fmt.Errorf("%w: rt %q", errBad, v)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	return parseTimeLayouts(v, []string{"Jan _2 2006 15:04:05.000 MST", "Jan _2 2006 15:04:05 MST",
		"Jan _2 2006 15:04:05.000", "Jan _2 2006 15:04:05", time.RFC3339Nano})
}

// syslogTime reads the timestamp of an RFC 5424 header ("<pri>1 TIME ...").
func syslogTime(prefix string) (time.Time, error) {
	f := strings.Fields(prefix)
	if len(f) < 2 || !strings.HasPrefix(f[0], "<") {
		return time.Time{}, errBad
	}
	return parseTimeLayouts(f[1], []string{time.RFC3339Nano})
}

func firstAddr(kv map[string]string, keys ...string) netip.Addr {
	for _, k := range keys {
		if a := parseAddr(kv[k]); a.IsValid() {
			return a
		}
	}
	return netip.Addr{}
}

func firstPort(kv map[string]string, keys ...string) (uint16, error) {
	for _, k := range keys {
		if v, ok := kv[k]; ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
			if err != nil {
				return 0, fmt.Errorf("%w: %s %q", errBad, k, v)
			}
			return uint16(n), nil
		}
	}
	return 0, nil
}
