// Package web embeds the browser demo page served by surge serve at "/":
// plain HTML, CSS and JavaScript, no build step and no external fetches. The
// JavaScript client doubles as a small example of the signaling protocol
// (docs/signaling.md).
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var files embed.FS

// Handler serves the demo page and its assets.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.FileServer(http.FS(sub))
}
