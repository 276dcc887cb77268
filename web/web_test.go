package web_test

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"

	"github.com/otrange/otrange/server"
	"github.com/otrange/otrange/server/store"
	"github.com/otrange/otrange/web"
)

// TestOpenAPIMatchesRoutes keeps openapi.yaml in step with the server: every
// route the server registers is documented, and nothing else is.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := fs.ReadFile(web.FS, "openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi version %q, want 3.1.x", doc.OpenAPI)
	}
	var documented []string
	param := regexp.MustCompile(`\{(\w+)\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+param.ReplaceAllString(path, ":$1"))
		}
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "routes.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(server.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := srv.Handler().(*echo.Echo)
	if !ok {
		t.Fatalf("the server's handler is a %T, not echo", srv.Handler())
	}
	var served []string
	for _, r := range e.Routes() {
		// The catch-alls (static files, the API's 404) are not endpoints.
		if strings.HasSuffix(r.Path, "*") || !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}, r.Method) {
			continue
		}
		served = append(served, r.Method+" "+r.Path)
	}
	slices.Sort(documented)
	served = slices.Compact(slices.Sorted(slices.Values(served)))
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("%s is in openapi.yaml but not served", d)
		}
	}
	if len(served) < 20 {
		t.Errorf("only %d routes found: %v", len(served), served)
	}
}

// TestStaticReferences checks that every script, style and module a page
// names is embedded, and that no page script writes HTML from strings
// (everything from the log goes through textContent).
func TestStaticReferences(t *testing.T) {
	refs := regexp.MustCompile(`(?:src|href)="([^"#:]+\.(?:js|css))"|from "\./([^"]+)"`)
	htmlSinks := regexp.MustCompile(`\.innerHTML\s*=|outerHTML|insertAdjacentHTML|document\.write`)
	files, err := fs.Glob(web.FS, "*.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "join.html", "exercise.html", "openapi.yaml", "errors.js"} {
		if !slices.Contains(files, name) {
			t.Errorf("%s is not embedded", name)
		}
	}
	checked := 0
	for _, name := range files {
		if !strings.HasSuffix(name, ".html") && !strings.HasSuffix(name, ".js") {
			continue
		}
		b, err := fs.ReadFile(web.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range refs.FindAllStringSubmatch(string(b), -1) {
			ref := strings.TrimPrefix(m[1]+m[2], "/")
			checked++
			if _, err := fs.Stat(web.FS, ref); err != nil {
				t.Errorf("%s refers to %s, which is not embedded", name, ref)
			}
		}
		// app.js (the live range view) sets one fixed placeholder row.
		if strings.HasSuffix(name, ".js") && name != "app.js" && htmlSinks.Match(b) {
			t.Errorf("%s writes HTML from a string", name)
		}
		if strings.HasSuffix(name, ".html") && regexp.MustCompile(`<script>|<script [^>]*>[^<]`).Match(b) {
			t.Errorf("%s has an inline script", name)
		}
	}
	if checked < 10 {
		t.Errorf("only %d references checked", checked)
	}
}
