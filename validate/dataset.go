package validate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/otrange/otrange/sensor/rules"
)

// LabelsFile is the name of a dataset's labels (JSON) in its folder.
const LabelsFile = "labels.json"

// Dataset is a set of labelled captures: one run per scenario plus the
// benign run. It is written as labels.json beside the captures.
type Dataset struct {
	Version   int       `json:"version"`
	Generator string    `json:"generator"`
	Created   time.Time `json:"created"`
	// Speed is the scenario clock's speed (exercise seconds per wall
	// second); PlantSpeed the process's.
	Speed      float64 `json:"speed"`
	PlantSpeed float64 `json:"plant_speed"`
	Runs       []Run   `json:"runs"`
}

// Run is one capture and the ground truth of what happened in it.
type Run struct {
	// Scenario is the scenario's id; "" for the benign run.
	Scenario string `json:"scenario,omitempty"`
	Title    string `json:"title"`
	Benign   bool   `json:"benign,omitempty"`
	// Capture is the pcap's file name, relative to the dataset's folder.
	Capture string `json:"capture"`
	// Subnet holds every address of the run (plant, attacker, IT hosts).
	Subnet   string    `json:"subnet"`
	Attacker string    `json:"attacker,omitempty"`
	Start    time.Time `json:"start"` // capture started
	End      time.Time `json:"end"`   // capture stopped
	// Packets is the number of frames in the capture; KernelDrops the
	// packets the kernel dropped because the recorder did not keep up;
	// Truncated the packets not written because the capture was full.
	Packets     int    `json:"packets"`
	KernelDrops uint64 `json:"kernel_drops"`
	Truncated   uint64 `json:"truncated,omitempty"`
	// Attempt is 1 for the first run of a scenario; a run redone after
	// capture loss counts up.
	Attempt int       `json:"attempt,omitempty"`
	Plant   PlantInfo `json:"plant"`
	// Policy is what the plant's owner allows (the sensor's policy).
	Policy *rules.Policy `json:"policy,omitempty"`
	Steps  []StepLabel   `json:"steps"`
}

// Duration is the capture's length.
func (r *Run) Duration() time.Duration { return r.End.Sub(r.Start) }

// Name is the run's short name: the scenario id, or "benign".
func (r *Run) Name() string {
	if r.Benign {
		return "benign"
	}
	return r.Scenario
}

// PlantInfo says where the plant's devices were.
type PlantInfo struct {
	Devices     []Device `json:"devices"`
	ModbusPorts []uint16 `json:"modbus_ports"`
	DNP3Ports   []uint16 `json:"dnp3_ports"`
}

// Device is one host of the plant.
type Device struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Address  string `json:"address"`
	Endpoint string `json:"endpoint,omitempty"` // address:port of a field device
}

// StepLabel is the ground truth of one executed step.
type StepLabel struct {
	Step       string        `json:"step"`
	Name       string        `json:"name"`
	Phase      string        `json:"phase,omitempty"`
	Action     string        `json:"action"`
	Target     string        `json:"target,omitempty"`
	Techniques []string      `json:"techniques,omitempty"`
	Source     string        `json:"source,omitempty"`
	Dest       string        `json:"destination,omitempty"`
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end"`
	StartClock time.Duration `json:"start_clock"`
	EndClock   time.Duration `json:"end_clock"`
	Flows      []string      `json:"flows,omitempty"`
	Succeeded  bool          `json:"succeeded"`
	Error      string        `json:"error,omitempty"`
	// Network is true for a step that puts traffic on the wire (scored);
	// injects, waits, plant faults and hosts going down do not.
	Network bool `json:"network"`
	// Requests is what the attacker wrote (application requests; probes
	// for a sweep); Seen how many of them the capture holds; Complete
	// whether the capture holds them all.
	Requests int  `json:"requests"`
	Seen     int  `json:"seen"`
	Complete bool `json:"complete"`
	// Frames are the step's packets (1-based frame numbers in the
	// capture), both directions; FramesDropped counts those beyond
	// MaxStepFrames.
	Frames        []uint64 `json:"frames"`
	FramesDropped int      `json:"frames_dropped,omitempty"`
}

// WriteLabels writes ds as labels.json, labels.csv (a row per step) and
// frames.csv (a row per labelled frame) in dir.
func WriteLabels(dir string, ds *Dataset) error {
	b, err := json.MarshalIndent(ds, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, LabelsFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "labels.csv"), func(w io.Writer) error { return StepsCSV(w, ds) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "frames.csv"), func(w io.Writer) error { return FramesCSV(dir, w, ds) })
}

// ReadLabels reads a dataset's labels.json from dir.
func ReadLabels(dir string) (*Dataset, error) {
	b, err := os.ReadFile(filepath.Join(dir, LabelsFile))
	if err != nil {
		return nil, err
	}
	var ds Dataset
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, LabelsFile), err)
	}
	if ds.Version != 1 {
		return nil, fmt.Errorf("%s: labels version %d, this otrange reads 1", filepath.Join(dir, LabelsFile), ds.Version)
	}
	return &ds, nil
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// stepsHeader is labels.csv's header.
var stepsHeader = []string{"run", "capture", "step", "name", "phase", "action", "target", "techniques",
	"source", "destination", "start", "end", "start_clock_s", "end_clock_s", "flows", "succeeded", "error",
	"network", "requests", "seen", "complete", "frames", "first_frame", "last_frame"}

// StepsCSV writes one row per step of every run.
func StepsCSV(w io.Writer, ds *Dataset) error {
	cw := csv.NewWriter(w)
	cw.Write(stepsHeader)
	for _, r := range ds.Runs {
		for _, s := range r.Steps {
			first, last := "", ""
			if n := len(s.Frames); n > 0 {
				first, last = strconv.FormatUint(s.Frames[0], 10), strconv.FormatUint(s.Frames[n-1], 10)
			}
			cw.Write([]string{r.Name(), r.Capture, s.Step, s.Name, s.Phase, s.Action, s.Target,
				strings.Join(s.Techniques, " "), s.Source, s.Dest, csvTime(s.Start), csvTime(s.End),
				csvSeconds(s.StartClock), csvSeconds(s.EndClock), strings.Join(s.Flows, " "),
				strconv.FormatBool(s.Succeeded), s.Error, strconv.FormatBool(s.Network),
				strconv.Itoa(s.Requests), strconv.Itoa(s.Seen), strconv.FormatBool(s.Complete),
				strconv.Itoa(len(s.Frames)), first, last})
		}
	}
	cw.Flush()
	return cw.Error()
}

// framesHeader is frames.csv's header.
var framesHeader = []string{"run", "capture", "frame", "time", "transport", "src", "src_port", "dst", "dst_port",
	"step", "action", "techniques"}

// FramesCSV writes one row per labelled frame: the capture's frame with its
// time and flow, and the step it belongs to. The captures are read from dir.
func FramesCSV(dir string, w io.Writer, ds *Dataset) error {
	cw := csv.NewWriter(w)
	cw.Write(framesHeader)
	for _, r := range ds.Runs {
		owner := map[uint64]*StepLabel{}
		for i := range r.Steps {
			for _, f := range r.Steps[i].Frames {
				if _, ok := owner[f]; !ok {
					owner[f] = &r.Steps[i]
				}
			}
		}
		if len(owner) == 0 {
			continue
		}
		pkts, err := readPackets(filepath.Join(dir, r.Capture), 0)
		if err != nil {
			return err
		}
		for _, p := range pkts {
			s, ok := owner[p.Frame]
			if !ok {
				continue
			}
			cw.Write([]string{r.Name(), r.Capture, strconv.FormatUint(p.Frame, 10), csvTime(p.Time), p.Transport,
				p.Src.Addr().String(), strconv.Itoa(int(p.Src.Port())), p.Dst.Addr().String(), strconv.Itoa(int(p.Dst.Port())),
				s.Step, s.Action, strings.Join(s.Techniques, " ")})
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func csvSeconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
