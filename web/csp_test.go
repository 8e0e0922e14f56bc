package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The strict CSP (internal/headers) allows same-origin files only: these tests catch, before a
// browser does, anything that would be blocked or that would weaken the page.

var (
	scriptTag     = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	srcAttr       = regexp.MustCompile(`(?i)\ssrc\s*=\s*["']?/[^/]`)
	styleElement  = regexp.MustCompile(`(?i)<style\b`)
	styleAttr     = regexp.MustCompile(`(?i)\sstyle\s*=`)
	handlerAttr   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	externalRef   = regexp.MustCompile(`(?i)\s(?:src|href|action)\s*=\s*["']?(?:https?:)?//`)
	javascriptURL = regexp.MustCompile(`(?i)javascript:`)
	unsafeJS      = regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*["']`)
)

func walk(t *testing.T, ext string, check func(path, text string)) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ext) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check(path, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPagesHaveNoInlineCodeOrForeignOrigins(t *testing.T) {
	walk(t, ".html", func(path, text string) {
		for _, m := range scriptTag.FindAllStringSubmatch(text, -1) {
			if !srcAttr.MatchString(m[1]) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s: %q: scripts must be same-origin files (src=\"/...\") with no inline content", path, m[0])
			}
		}
		for name, re := range map[string]*regexp.Regexp{
			"<style> element":           styleElement,
			"style= attribute":          styleAttr,
			"on*= event handler":        handlerAttr,
			"reference to other origin": externalRef,
			"javascript: URL":           javascriptURL,
		} {
			if m := re.FindString(text); m != "" {
				t.Errorf("%s: %s (%q) is blocked by the CSP or weakens it: move it into a same-origin file", path, name, m)
			}
		}
	})
}

func TestScriptsNeverParseDataAsHTML(t *testing.T) {
	walk(t, ".js", func(path, text string) {
		if m := unsafeJS.FindString(text); m != "" {
			t.Errorf("%s uses %q: render API data with textContent so injected markup stays text", path, m)
		}
	})
}
