// Package alert defines the sensor's alert record, the contract between the
// sensor, its outputs, the exercise server and the validation harness.
package alert

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Severity orders alerts for triage.
type Severity string

// Severities, lowest first.
const (
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Alert is one detection. Field names are the JSON schema of every output.
type Alert struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Sensor     string    `json:"sensor"`
	RuleID     string    `json:"rule_id"`
	RuleName   string    `json:"rule_name"`
	Severity   Severity  `json:"severity"`
	Techniques []string  `json:"techniques"` // ATT&CK for ICS ids, e.g. T0836
	SrcAddr    string    `json:"src_addr"`
	SrcPort    uint16    `json:"src_port"`
	DstAddr    string    `json:"dst_addr"`
	DstPort    uint16    `json:"dst_port"`
	Protocol   string    `json:"protocol"`
	Function   string    `json:"function,omitempty"`
	Unit       *int      `json:"unit,omitempty"`
	Address    *int      `json:"address,omitempty"`
	Value      *int      `json:"value,omitempty"`
	Evidence   Evidence  `json:"evidence"`
	Message    string    `json:"message"`
}

// Evidence points back into the traffic.
type Evidence struct {
	FlowID string   `json:"flow_id"`
	Frames []uint64 `json:"frames,omitempty"` // 1-based frame numbers in the capture
}

// Sink receives alerts. Emit must not block for long: sinks that do I/O
// buffer and count what they drop.
type Sink interface {
	Emit(Alert)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Alert)

// Emit calls f.
func (f SinkFunc) Emit(a Alert) { f(a) }

// Multi fans an alert out to several sinks.
type Multi []Sink

// Emit sends a to every sink.
func (m Multi) Emit(a Alert) {
	for _, s := range m {
		s.Emit(a)
	}
}

// JSONLines writes each alert as one JSON object per line.
type JSONLines struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewJSONLines writes alerts to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{enc: json.NewEncoder(w)} }

// Emit writes the alert; the first write error is kept and reported by Err.
func (j *JSONLines) Emit(a Alert) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	if err := j.enc.Encode(a); err != nil {
		j.err = fmt.Errorf("alert output: %w", err)
	}
}

// Err returns the first write error.
func (j *JSONLines) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}
