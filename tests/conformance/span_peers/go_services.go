// Front and back services on Go's net/http for the span-link suite (goroutines, which move
// between threads; the front calls the back through a keep-alive transport; no trace headers).
//
//	go_services back         GET /items/<id>: 200 after 0-15 ms
//	go_services front PORT   GET /api/orders/<id>: GET /items/<id> on the back, then 200
//
// Each prints "ready <port>" and exits when stdin closes.
package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func serve(h http.HandlerFunc) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, h)
	fmt.Printf("ready %d\n", ln.Addr().(*net.TCPAddr).Port)
	bufio.NewReader(os.Stdin).ReadString('\n')
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "back" {
		serve(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Duration(rand.Intn(15)) * time.Millisecond)
			io.WriteString(w, "back "+r.URL.Path+"\n")
		})
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "front" {
		back := "http://127.0.0.1:" + os.Args[2]
		cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 10}}
		serve(func(w http.ResponseWriter, r *http.Request) {
			id := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			resp, err := cl.Get(back + "/items/" + id)
			if err != nil {
				w.WriteHeader(502)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			io.WriteString(w, "front\n")
		})
		return
	}
	fmt.Fprintln(os.Stderr, "usage: go_services back | front BACK_PORT")
	os.Exit(2)
}
