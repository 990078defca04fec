// Go's net/http (its own syscalls, no libc) for the conformance suite: `server` prints its port
// and serves until stdin closes; `client URL N C` makes N GET requests over C keep-alive
// connections and prints "completed N".
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
)

func server() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/items/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/items/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "item\n")
	})
	go http.Serve(ln, mux)
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	bufio.NewReader(os.Stdin).ReadString('\n')
}

func client(url string, n, c int) {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	cl := &http.Client{Transport: tr}
	var done int64
	var wg sync.WaitGroup
	work := make(chan int)
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				path := "/items/" + strconv.Itoa(i%50)
				if i%10 == 9 {
					path = "/items/missing"
				}
				resp, err := cl.Get(url + path)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				atomic.AddInt64(&done, 1)
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	fmt.Printf("completed %d\n", done)
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "server" {
		server()
		return
	}
	if len(os.Args) == 5 && os.Args[1] == "client" {
		n, _ := strconv.Atoi(os.Args[3])
		c, _ := strconv.Atoi(os.Args[4])
		client(os.Args[2], n, c)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: gohttp server | gohttp client URL N C")
	os.Exit(2)
}
