package validate

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	ds, err := Generate(context.Background(), Config{Dir: dir, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("took %v", time.Since(start))
	as, st, err := Builtin{}.Alerts(context.Background(), dir, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	rep := Score(ds, "otrange", as, ScoreConfig{})
	rep.Markdown(os.Stdout)
	t.Log(rep.Summary())
}
