package plantdef

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otrange/otrange/internal/rangenet"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden .err files")

// testCatalog is the process model's tags and the PLC programs' variables
// (simulator/water, simulator/logic) as the default plant was written against.
var testCatalog = MapCatalog{
	Tags: map[string]TagSpec{
		"river.turbidity":       {Min: 0, Max: 100},
		"intake.pump1.run":      {Bool: true},
		"intake.pump1.speed":    {Min: 0, Max: 100},
		"intake.pump1.reset":    {Bool: true},
		"intake.pump1.running":  {Bool: true},
		"intake.pump1.tripped":  {Bool: true},
		"intake.pump1.hours":    {Min: 0, Max: 1e+06},
		"intake.pump1.starts":   {Min: 0, Max: 1e+09},
		"intake.pump1.wear":     {Min: 0, Max: 100},
		"intake.pump2.run":      {Bool: true},
		"intake.pump2.speed":    {Min: 0, Max: 100},
		"intake.pump2.reset":    {Bool: true},
		"intake.pump2.running":  {Bool: true},
		"intake.pump2.tripped":  {Bool: true},
		"intake.pump2.hours":    {Min: 0, Max: 1e+06},
		"intake.pump2.starts":   {Min: 0, Max: 1e+09},
		"intake.pump2.wear":     {Min: 0, Max: 100},
		"intake.flow":           {Min: 0, Max: 1000},
		"raw.level":             {Min: 0, Max: 5},
		"raw.turbidity":         {Min: 0, Max: 100},
		"raw.ph":                {Min: 0, Max: 14},
		"filter.valve":          {Min: 0, Max: 100},
		"filter.flow":           {Min: 0, Max: 750},
		"filter.turbidity":      {Min: 0, Max: 10},
		"backwash.flow":         {Min: 0, Max: 900},
		"filter1.dp":            {Min: 0, Max: 200},
		"filter1.backwash":      {Bool: true},
		"filter1.inservice":     {Bool: true},
		"filter2.dp":            {Min: 0, Max: 200},
		"filter2.backwash":      {Bool: true},
		"filter2.inservice":     {Bool: true},
		"dosing.naoh.rate":      {Min: 0, Max: 100},
		"dosing.cl.rate":        {Min: 0, Max: 30},
		"dosing.naoh.running":   {Bool: true},
		"dosing.cl.running":     {Bool: true},
		"treated.ph":            {Min: 0, Max: 14},
		"treated.chlorine":      {Min: 0, Max: 20},
		"clearwell.level":       {Min: 0, Max: 5},
		"outlet.chlorine":       {Min: 0, Max: 20},
		"outlet.ph":             {Min: 0, Max: 14},
		"outlet.turbidity":      {Min: 0, Max: 10},
		"dist.pump1.run":        {Bool: true},
		"dist.pump1.speed":      {Min: 0, Max: 100},
		"dist.pump1.reset":      {Bool: true},
		"dist.pump1.running":    {Bool: true},
		"dist.pump1.tripped":    {Bool: true},
		"dist.pump1.hours":      {Min: 0, Max: 1e+06},
		"dist.pump1.starts":     {Min: 0, Max: 1e+09},
		"dist.pump1.wear":       {Min: 0, Max: 100},
		"dist.pump2.run":        {Bool: true},
		"dist.pump2.speed":      {Min: 0, Max: 100},
		"dist.pump2.reset":      {Bool: true},
		"dist.pump2.running":    {Bool: true},
		"dist.pump2.tripped":    {Bool: true},
		"dist.pump2.hours":      {Min: 0, Max: 1e+06},
		"dist.pump2.starts":     {Min: 0, Max: 1e+09},
		"dist.pump2.wear":       {Min: 0, Max: 100},
		"dist.pump3.run":        {Bool: true},
		"dist.pump3.speed":      {Min: 0, Max: 100},
		"dist.pump3.reset":      {Bool: true},
		"dist.pump3.running":    {Bool: true},
		"dist.pump3.tripped":    {Bool: true},
		"dist.pump3.hours":      {Min: 0, Max: 1e+06},
		"dist.pump3.starts":     {Min: 0, Max: 1e+09},
		"dist.pump3.wear":       {Min: 0, Max: 100},
		"dist.valve":            {Min: 0, Max: 100},
		"dist.flow":             {Min: 0, Max: 900},
		"dist.pressure":         {Min: 0, Max: 11},
		"network.pressure":      {Min: 0, Max: 11},
		"network.demand":        {Min: 0, Max: 2700},
		"booster.pump1.run":     {Bool: true},
		"booster.pump1.reset":   {Bool: true},
		"booster.pump1.running": {Bool: true},
		"booster.pump1.tripped": {Bool: true},
		"booster.pump1.hours":   {Min: 0, Max: 1e+06},
		"booster.pump1.starts":  {Min: 0, Max: 1e+09},
		"booster.pump1.wear":    {Min: 0, Max: 100},
		"booster.pump2.run":     {Bool: true},
		"booster.pump2.reset":   {Bool: true},
		"booster.pump2.running": {Bool: true},
		"booster.pump2.tripped": {Bool: true},
		"booster.pump2.hours":   {Min: 0, Max: 1e+06},
		"booster.pump2.starts":  {Min: 0, Max: 1e+09},
		"booster.pump2.wear":    {Min: 0, Max: 100},
		"booster.flow":          {Min: 0, Max: 180},
		"booster.suction":       {Min: 0, Max: 11},
		"reservoir.level":       {Min: 0, Max: 6},
		"reservoir.chlorine":    {Min: 0, Max: 20},
		"reservoir.outflow":     {Min: 0, Max: 450},
		"sis.intake.trip":       {Bool: true},
		"sis.dosing.trip":       {Bool: true},
		"sis.outlet.trip":       {Bool: true},
		"outside.temperature":   {Min: -40, Max: 50},
	},
	Programs: map[string]map[string]VarSpec{
		"booster": {
			"mode":             {Writable: true, Bool: false, Min: 1, Max: 4},
			"scan.count":       {Writable: false, Bool: false, Min: 0, Max: 2.147483648e+09},
			"checksum":         {Writable: false, Bool: false, Min: 0, Max: 4.294967295e+09},
			"alarms":           {Writable: false, Bool: false, Min: 0, Max: 65535},
			"auto":             {Writable: true, Bool: true, Min: 0, Max: 1},
			"level.start":      {Writable: true, Bool: false, Min: 0, Max: 20},
			"level.stop":       {Writable: true, Bool: false, Min: 0, Max: 20},
			"reset":            {Writable: true, Bool: true, Min: 0, Max: 1},
			"lag.offset":       {Writable: true, Bool: false, Min: 0, Max: 20},
			"level.high":       {Writable: true, Bool: false, Min: 0, Max: 20},
			"level.highhigh":   {Writable: true, Bool: false, Min: 0, Max: 20},
			"level.low":        {Writable: true, Bool: false, Min: 0, Max: 20},
			"suction.min":      {Writable: true, Bool: false, Min: 0, Max: 20},
			"suction.delay":    {Writable: true, Bool: false, Min: 0, Max: 600},
			"interlock.enable": {Writable: true, Bool: true, Min: 0, Max: 1},
			"level":            {Writable: false, Bool: false, Min: 0, Max: 20},
			"suction":          {Writable: false, Bool: false, Min: 0, Max: 20},
			"flow":             {Writable: false, Bool: false, Min: 0, Max: 10000},
			"pumps.called":     {Writable: false, Bool: false, Min: 0, Max: 64},
			"pump1.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump1.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump1.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump2.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump2.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump2.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
		},
		"distribution": {
			"mode":             {Writable: true, Bool: false, Min: 1, Max: 4},
			"scan.count":       {Writable: false, Bool: false, Min: 0, Max: 2.147483648e+09},
			"checksum":         {Writable: false, Bool: false, Min: 0, Max: 4.294967295e+09},
			"alarms":           {Writable: false, Bool: false, Min: 0, Max: 65535},
			"auto":             {Writable: true, Bool: true, Min: 0, Max: 1},
			"pressure.sp":      {Writable: true, Bool: false, Min: 0, Max: 20},
			"outlet.valve":     {Writable: true, Bool: false, Min: 0, Max: 100},
			"speed.manual":     {Writable: true, Bool: false, Min: 0, Max: 100},
			"reset":            {Writable: true, Bool: true, Min: 0, Max: 1},
			"kp":               {Writable: true, Bool: false, Min: 0, Max: 1000},
			"ki":               {Writable: true, Bool: false, Min: 0, Max: 1000},
			"speed.min":        {Writable: true, Bool: false, Min: 0, Max: 100},
			"speed.max":        {Writable: true, Bool: false, Min: 0, Max: 100},
			"stage.up":         {Writable: true, Bool: false, Min: 0, Max: 100},
			"stage.down":       {Writable: true, Bool: false, Min: 0, Max: 100},
			"stage.delay":      {Writable: true, Bool: false, Min: 0, Max: 3600},
			"pressure.high":    {Writable: true, Bool: false, Min: 0, Max: 20},
			"pressure.low":     {Writable: true, Bool: false, Min: 0, Max: 20},
			"cw.lowlow":        {Writable: true, Bool: false, Min: 0, Max: 10},
			"cw.restart":       {Writable: true, Bool: false, Min: 0, Max: 10},
			"cw.low":           {Writable: true, Bool: false, Min: 0, Max: 10},
			"cw.high":          {Writable: true, Bool: false, Min: 0, Max: 10},
			"interlock.enable": {Writable: true, Bool: true, Min: 0, Max: 1},
			"pressure":         {Writable: false, Bool: false, Min: 0, Max: 20},
			"network.pressure": {Writable: false, Bool: false, Min: 0, Max: 20},
			"flow":             {Writable: false, Bool: false, Min: 0, Max: 10000},
			"clearwell.level":  {Writable: false, Bool: false, Min: 0, Max: 10},
			"speed":            {Writable: false, Bool: false, Min: 0, Max: 100},
			"pumps.called":     {Writable: false, Bool: false, Min: 0, Max: 64},
			"pump1.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump1.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump1.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump2.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump2.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump2.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump3.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump3.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump3.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
		},
		"intake": {
			"mode":             {Writable: true, Bool: false, Min: 1, Max: 4},
			"scan.count":       {Writable: false, Bool: false, Min: 0, Max: 2.147483648e+09},
			"checksum":         {Writable: false, Bool: false, Min: 0, Max: 4.294967295e+09},
			"alarms":           {Writable: false, Bool: false, Min: 0, Max: 65535},
			"auto":             {Writable: true, Bool: true, Min: 0, Max: 1},
			"level.start":      {Writable: true, Bool: false, Min: 0, Max: 10},
			"level.stop":       {Writable: true, Bool: false, Min: 0, Max: 10},
			"speed.sp":         {Writable: true, Bool: false, Min: 0, Max: 100},
			"reset":            {Writable: true, Bool: true, Min: 0, Max: 1},
			"lag.offset":       {Writable: true, Bool: false, Min: 0, Max: 5},
			"level.high":       {Writable: true, Bool: false, Min: 0, Max: 10},
			"level.highhigh":   {Writable: true, Bool: false, Min: 0, Max: 10},
			"level.low":        {Writable: true, Bool: false, Min: 0, Max: 10},
			"interlock.enable": {Writable: true, Bool: true, Min: 0, Max: 1},
			"level":            {Writable: false, Bool: false, Min: 0, Max: 10},
			"flow":             {Writable: false, Bool: false, Min: 0, Max: 10000},
			"pumps.called":     {Writable: false, Bool: false, Min: 0, Max: 64},
			"pump1.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump1.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump1.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump2.cmd":        {Writable: true, Bool: true, Min: 0, Max: 1},
			"pump2.running":    {Writable: false, Bool: true, Min: 0, Max: 1},
			"pump2.tripped":    {Writable: false, Bool: true, Min: 0, Max: 1},
		},
		"sis": {
			"mode":                {Writable: true, Bool: false, Min: 1, Max: 4},
			"scan.count":          {Writable: false, Bool: false, Min: 0, Max: 2.147483648e+09},
			"checksum":            {Writable: false, Bool: false, Min: 0, Max: 4.294967295e+09},
			"alarms":              {Writable: false, Bool: false, Min: 0, Max: 65535},
			"bypass":              {Writable: true, Bool: true, Min: 0, Max: 1},
			"reset":               {Writable: true, Bool: true, Min: 0, Max: 1},
			"raw.level.hh":        {Writable: true, Bool: false, Min: 0, Max: 10},
			"clearwell.level.hh":  {Writable: true, Bool: false, Min: 0, Max: 10},
			"treated.chlorine.hh": {Writable: true, Bool: false, Min: 0, Max: 20},
			"outlet.chlorine.hh":  {Writable: true, Bool: false, Min: 0, Max: 20},
			"treated.ph.hh":       {Writable: true, Bool: false, Min: 0, Max: 14},
			"treated.ph.ll":       {Writable: true, Bool: false, Min: 0, Max: 14},
			"outlet.ph.hh":        {Writable: true, Bool: false, Min: 0, Max: 14},
			"outlet.ph.ll":        {Writable: true, Bool: false, Min: 0, Max: 14},
			"pressure.hh":         {Writable: true, Bool: false, Min: 0, Max: 20},
			"trip.delay":          {Writable: true, Bool: false, Min: 0, Max: 60},
			"trip.enable":         {Writable: true, Bool: false, Min: 0, Max: 63},
			"trip":                {Writable: false, Bool: true, Min: 0, Max: 1},
			"causes":              {Writable: false, Bool: false, Min: 0, Max: 63},
			"active":              {Writable: false, Bool: false, Min: 0, Max: 63},
			"first.out":           {Writable: false, Bool: false, Min: 0, Max: 63},
			"trips.count":         {Writable: false, Bool: false, Min: 0, Max: 2.147483648e+09},
			"bypassed":            {Writable: false, Bool: true, Min: 0, Max: 1},
			"raw.level":           {Writable: false, Bool: false, Min: 0, Max: 10},
			"clearwell.level":     {Writable: false, Bool: false, Min: 0, Max: 10},
			"treated.chlorine":    {Writable: false, Bool: false, Min: 0, Max: 20},
			"outlet.chlorine":     {Writable: false, Bool: false, Min: 0, Max: 20},
			"treated.ph":          {Writable: false, Bool: false, Min: 0, Max: 14},
			"outlet.ph":           {Writable: false, Bool: false, Min: 0, Max: 14},
			"pressure":            {Writable: false, Bool: false, Min: 0, Max: 20},
		},
		"treatment": {
			"mode":               {Writable: true, Bool: false, Min: 1, Max: 4},
			"scan.count":         {Writable: false, Bool: false, Min: 0, Max: 2.147483648e+09},
			"checksum":           {Writable: false, Bool: false, Min: 0, Max: 4.294967295e+09},
			"alarms":             {Writable: false, Bool: false, Min: 0, Max: 65535},
			"auto":               {Writable: true, Bool: true, Min: 0, Max: 1},
			"flow.sp":            {Writable: true, Bool: false, Min: 0, Max: 10000},
			"cw.level.sp":        {Writable: true, Bool: false, Min: 0, Max: 10},
			"naoh.dose":          {Writable: true, Bool: false, Min: 0, Max: 20000},
			"cl.dose":            {Writable: true, Bool: false, Min: 0, Max: 20},
			"valve.manual":       {Writable: true, Bool: false, Min: 0, Max: 100},
			"naoh.manual":        {Writable: true, Bool: false, Min: 0, Max: 1000},
			"cl.manual":          {Writable: true, Bool: false, Min: 0, Max: 1000},
			"backwash.request":   {Writable: true, Bool: true, Min: 0, Max: 1},
			"cw.gain":            {Writable: true, Bool: false, Min: 0, Max: 10000},
			"flow.min":           {Writable: true, Bool: false, Min: 0, Max: 10000},
			"flow.max":           {Writable: true, Bool: false, Min: 0, Max: 10000},
			"flow.ki":            {Writable: true, Bool: false, Min: 0, Max: 10},
			"raw.low":            {Writable: true, Bool: false, Min: 0, Max: 10},
			"naoh.conc":          {Writable: true, Bool: false, Min: 1, Max: 2000},
			"naoh.rate.max":      {Writable: true, Bool: false, Min: 0, Max: 1000},
			"cl.conc":            {Writable: true, Bool: false, Min: 1, Max: 2000},
			"cl.rate.max":        {Writable: true, Bool: false, Min: 0, Max: 1000},
			"dosing.flow.min":    {Writable: true, Bool: false, Min: 0, Max: 10000},
			"cl.high":            {Writable: true, Bool: false, Min: 0, Max: 20},
			"cl.low":             {Writable: true, Bool: false, Min: 0, Max: 20},
			"ph.high":            {Writable: true, Bool: false, Min: 0, Max: 14},
			"ph.low":             {Writable: true, Bool: false, Min: 0, Max: 14},
			"dp.backwash":        {Writable: true, Bool: false, Min: 0, Max: 500},
			"dp.delay":           {Writable: true, Bool: false, Min: 0, Max: 3600},
			"dp.alarm":           {Writable: true, Bool: false, Min: 0, Max: 500},
			"backwash.time":      {Writable: true, Bool: false, Min: 0, Max: 7200},
			"backwash.level.min": {Writable: true, Bool: false, Min: 0, Max: 10},
			"filter.flow":        {Writable: false, Bool: false, Min: 0, Max: 10000},
			"valve":              {Writable: false, Bool: false, Min: 0, Max: 100},
			"flow.target":        {Writable: false, Bool: false, Min: 0, Max: 10000},
			"raw.level":          {Writable: false, Bool: false, Min: 0, Max: 10},
			"clearwell.level":    {Writable: false, Bool: false, Min: 0, Max: 10},
			"naoh.rate":          {Writable: false, Bool: false, Min: 0, Max: 1000},
			"cl.rate":            {Writable: false, Bool: false, Min: 0, Max: 1000},
			"treated.ph":         {Writable: false, Bool: false, Min: 0, Max: 14},
			"treated.chlorine":   {Writable: false, Bool: false, Min: 0, Max: 20},
			"outlet.ph":          {Writable: false, Bool: false, Min: 0, Max: 14},
			"outlet.chlorine":    {Writable: false, Bool: false, Min: 0, Max: 20},
			"backwash.filter":    {Writable: false, Bool: false, Min: 0, Max: 128},
			"backwash.remaining": {Writable: false, Bool: false, Min: 0, Max: 7200},
			"filter1.dp":         {Writable: false, Bool: false, Min: 0, Max: 500},
			"filter2.dp":         {Writable: false, Bool: false, Min: 0, Max: 500},
		},
	},
}

var guard = rangenet.New(nil).CheckAddr

func TestDefault(t *testing.T) {
	p, err := Default(testCatalog, guard)
	if err != nil {
		t.Fatalf("default plant: %v", err)
	}
	if p.Meta.Name != "Riverside Water Treatment" || p.Meta.Tick != 100*time.Millisecond || p.Meta.Seed != 42 {
		t.Errorf("meta = %+v", p.Meta)
	}
	kinds := map[Kind]int{}
	for _, d := range p.Devices {
		kinds[d.Kind]++
		if d.Line == 0 {
			t.Errorf("%s: no line", d.Name)
		}
	}
	want := map[Kind]int{KindPLC: 3, KindSIS: 1, KindRTU: 1, KindHMI: 1, KindEWS: 1, KindHistorian: 1}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds = %v, want %v", kinds, want)
	}
	hmi, _ := p.Device("hmi")
	if got := strings.Join(hmi.Polls, ","); got != "plc-intake,plc-treatment,plc-distribution,sis,rtu-reservoir" {
		t.Errorf("hmi polls (default: every field device) = %s", got)
	}
	intake, _ := p.Device("plc-intake")
	if intake.Address != netip.MustParseAddr("127.10.1.10") || intake.Modbus.Port != 502 || intake.Modbus.FallbackPort != 5020 ||
		intake.RestartTime != 8*time.Second || intake.Mode != "" || intake.Identity == nil {
		t.Errorf("plc-intake = %+v", intake)
	}
	// Defaults: scale 1 on a register without one, none on bits.
	for _, r := range intake.Registers {
		if r.Tag == "intake.pump1.hours" && (r.Scale != 1 || r.Words != 2) {
			t.Errorf("default scale = %g", r.Scale)
		}
		if r.Table.Bit() && r.Scale != 0 {
			t.Errorf("bit register with scale %g", r.Scale)
		}
	}
	rtu, _ := p.Device("rtu-reservoir")
	classes := map[PointType]int{}
	for _, pt := range rtu.Points {
		classes[pt.Type] = pt.Class
	}
	if !reflect.DeepEqual(classes, map[PointType]int{AnalogInput: 1, Counter: 3, BinaryInput: 1, BinaryOutput: 0, AnalogOutput: 0}) {
		t.Errorf("point classes = %v", classes)
	}
	hist, _ := p.Device("historian")
	if hist.Interval != time.Second || hist.Retention != 168*time.Hour || len(hist.Tags) != 17 {
		t.Errorf("historian = %+v", hist)
	}
	ews, _ := p.Device("ews")
	if ews.MaintenanceInterval != 10*time.Minute || len(ews.Targets) != 5 {
		t.Errorf("ews = %+v", ews)
	}

	// The process section decodes strictly (here into a stand-in of the
	// model's configuration; simulator tests decode it into the real one).
	var proc struct {
		StartHour float64 `yaml:"start_hour"`
		Noise     float64 `yaml:"noise"`
	}
	if err := p.DecodeProcess(&proc); err != nil {
		t.Fatalf("decode process: %v", err)
	}
	if proc.StartHour != 8 || proc.Noise != 0.001 {
		t.Errorf("process = %+v", proc)
	}
}

// The default plant also passes without a catalog (structure only).
func TestDefaultWithoutCatalog(t *testing.T) {
	if _, err := Default(nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestBad parses each testdata/bad/NAME.yaml and compares the error with
// testdata/bad/NAME.err (go test -run TestBad -update rewrites them).
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad definitions: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(f), data, testCatalog, guard)
			if err == nil {
				t.Fatalf("%s parsed without error", f)
			}
			var l ErrorList
			if !errors.As(err, &l) {
				t.Fatalf("error is %T, not an ErrorList", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func readExample(t testing.TB) []byte {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// clearLines drops positions, which differ between a file and its rewrite.
func clearLines(p *Plant) {
	p.Process = yamlNodeZero
	for i := range p.Devices {
		d := &p.Devices[i]
		d.Line, d.Column = 0, 0
		for j := range d.Registers {
			d.Registers[j].Line = 0
		}
		for j := range d.Points {
			d.Points[j].Line = 0
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, src := range []struct {
		name string
		data []byte
	}{{"example.yaml", readExample(t)}, {"default.yaml", DefaultYAML()}} {
		t.Run(src.name, func(t *testing.T) {
			p1, err := Parse(src.name, src.data, testCatalog, guard)
			if err != nil {
				t.Fatal(err)
			}
			out1, err := p1.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			p2, err := Parse("rewritten.yaml", out1, testCatalog, guard)
			if err != nil {
				t.Fatalf("rewritten definition does not parse: %v\n%s", err, out1)
			}
			out2, err := p2.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out1, out2) {
				t.Errorf("second rewrite differs:\n%s\n---\n%s", out1, out2)
			}
			var proc1, proc2 map[string]any
			if err := p1.DecodeProcess(&proc1); err != nil {
				t.Fatal(err)
			}
			if err := p2.DecodeProcess(&proc2); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(proc1, proc2) {
				t.Errorf("process: %v != %v", proc1, proc2)
			}
			clearLines(p1)
			clearLines(p2)
			p1.File, p2.File = "", ""
			if !reflect.DeepEqual(p1, p2) {
				t.Errorf("plant differs after a round trip:\n%+v\n%+v", p1, p2)
			}
		})
	}
}

// The README's full example is testdata/example.yaml, so the documentation
// cannot drift from what the loader accepts.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example -->\n```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no <!-- example --> yaml block")
	}
	if !bytes.Equal(m[1], readExample(t)) {
		t.Error("the README example differs from testdata/example.yaml")
	}
}

func TestErrorListBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("plant: {name: big, tick: 100ms}\ndevices:\n")
	for i := range 150 {
		fmt.Fprintf(&b, "  - {name: d%d, kind: plc, address: 127.0.0.1, modbus: {unit: 0}, program: intake}\n", i)
	}
	_, err := Parse("big.yaml", []byte(b.String()), testCatalog, guard)
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("err = %v", err)
	}
	if len(l) != MaxErrors+1 || !strings.Contains(l[len(l)-1].Msg, "more not shown") {
		t.Fatalf("%d errors, last %v", len(l), l[len(l)-1])
	}
	for i := 1; i < len(l); i++ {
		if l[i].Line < l[i-1].Line {
			t.Fatalf("not sorted at %d: %v then %v", i, l[i-1], l[i])
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	type cfg struct {
		Gain  float64       `yaml:"gain"`
		Every time.Duration `yaml:"every"`
		Names []string      `yaml:"names"`
		Inner *struct {
			On bool `yaml:"on"`
			N  uint8
		} `yaml:"inner"`
	}
	data := []byte("gain: 2.5\nevery: 3s\nnames: [a, b]\ninner: {on: true, n: 7}\n")
	p, err := Parse("x.yaml", []byte("plant: {name: x, tick: 1s}\nprocess:\n  "+strings.ReplaceAll(string(data), "\n", "\n  ")+
		"\ndevices: [{name: h, kind: hmi, address: 127.0.0.2}]\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var c cfg
	if err := p.DecodeProcess(&c); err != nil {
		t.Fatal(err)
	}
	if c.Gain != 2.5 || c.Every != 3*time.Second || len(c.Names) != 2 || c.Inner == nil || !c.Inner.On || c.Inner.N != 7 {
		t.Errorf("decoded %+v", c)
	}
	for _, tc := range []struct{ in, want string }{
		{"gain: x", `p.yaml:1:7: expected a number, got "x"`},
		{"gain: .nan", `p.yaml:1:7: expected a number, got number .nan`},
		{"every: 3", `p.yaml:1:8: duration 3 has no unit: write e.g. 3ms or 3s`},
		{"inner: {n: 300}", `p.yaml:1:12: 300 is out of range`},
		{"inner: {n: -1}", `p.yaml:1:12: -1 is out of range`},
		{"gian: 1", `p.yaml:1:1: unknown key "gian"; did you mean "gain"?`},
		{"gain: 1\ngain: 2", `p.yaml:2:1: duplicate key "gain" (first at line 1)`},
		{"names: &a [x]", `p.yaml:1:8: anchors (&a) are not supported`},
		{"inner: {on: yes}", `p.yaml:1:13: expected true or false, got "yes"`},
		{"names: {a: 1}", `p.yaml:1:8: expected a list, got a mapping`},
		{"every:", `p.yaml:1:7: missing value: expected a duration`},
	} {
		n, err := parseNode([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		var c cfg
		err = DecodeStrict("p.yaml", n, &c)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.in, err, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plant.yaml")
	if err := os.WriteFile(path, readExample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path, testCatalog, guard)
	if err != nil {
		t.Fatal(err)
	}
	if p.File != path {
		t.Errorf("file = %q", p.File)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := bytes.Repeat([]byte("# padding\n"), MaxSize/10+1)
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add(readExample(f))
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data, testCatalog, guard)
		if err != nil {
			var l ErrorList
			if !errors.As(err, &l) || len(l) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			for _, e := range l {
				if e.File != "f.yaml" || e.Line < 1 || e.Msg == "" {
					t.Fatalf("error without a position: %#v", e)
				}
			}
			return
		}
		// The process section decodes strictly, or fails with positions.
		var proc struct {
			Gain  float64            `yaml:"gain"`
			Every time.Duration      `yaml:"every"`
			Tanks map[string][]int16 `yaml:"tanks"`
			Any   any                `yaml:"any"`
		}
		if err := p.DecodeProcess(&proc); err != nil {
			var l ErrorList
			if !errors.As(err, &l) || len(l) == 0 || l[0].Line < 1 {
				t.Fatalf("process error %T %v without positions", err, err)
			}
		}
		// Whatever parses must survive a round trip.
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := Parse("g.yaml", out, testCatalog, guard); err != nil {
			t.Fatalf("rewrite does not parse: %v\n%s", err, out)
		}
	})
}

var yamlNodeZero = yaml.Node{}

func parseNode(data []byte) (*yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	return &n, nil
}
