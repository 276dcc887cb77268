// Package apitest calls the exercise server's JSON API in tests of the
// whole range. It is for tests only.
package apitest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Call sends body as JSON with method to url, with token as a bearer token
// when not empty, decodes the response's JSON into out when out is not nil,
// and returns the status code. A string body is sent as it is (malformed
// JSON, say). A request that gets no response fails the test.
func Call(t testing.TB, method, url, token string, body, out any) int {
	t.Helper()
	b, ok := body.(string)
	if !ok {
		j, _ := json.Marshal(body)
		b = string(j)
	}
	req, _ := http.NewRequest(method, url, strings.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}
