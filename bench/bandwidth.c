// Memory read bandwidth with N threads: each thread sums its share of a 1 GiB buffer, several
// times, with wide loads. The ceiling for token generation, which reads every weight once.
// Build: gcc -O3 -march=native -fopenmp bandwidth.c -o bandwidth;  run: ./bandwidth THREADS
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t bytes = (size_t) 1 << 30;
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *data = aligned_alloc(64, bytes);
    memset(data, 1, bytes);
    double best = 0;
    uint64_t total = 0;
    for (int round = 0; round < 5; round++) {
        double start = omp_get_wtime();
        uint64_t sum = 0;
#pragma omp parallel for num_threads(threads) reduction(+ : sum) schedule(static)
        for (size_t i = 0; i < n; i++) {
            sum += data[i];
        }
        double seconds = omp_get_wtime() - start;
        total += sum;
        double gbs = bytes / seconds / 1e9;
        if (gbs > best) {
            best = gbs;
        }
    }
    printf("%.1f\n", best);
    return total == 0; // keeps the sums alive
}
