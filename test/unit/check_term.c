/* check_term: unit tests for the external-term scanner and the ATOM_CACHE_REF rewrite
 * (every tag, truncations, hostile lengths, depth bombs, rewrite versus ei encodings). */
#include "dist/term.h"
#include "util/buf.h"

#include <check.h>
#include <ei.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_main.h"

/* Produced by term_to_binary(T, [{minor_version, 2}]) on OTP 25 (leading 131 removed):
 * closure = fun(X) -> X + Y end, export = fun lists:map/2, pid, port, ref, big = 1 bsl 100,
 * negbig = -(1 bsl 70), hugebig = 1 bsl 3000, float = 3.14, map = #{a => 1, <<"b">> =>
 * [1,2|3], {c} => #{}}, bits = <<1:3>>, str = "hello", utf8 = {'λx', 255 x 'λ', fun
 * lists:map/2, self()}, mixed = [{ok, 'élan', "x", <<>>, [], -5, 70000, 255 x 'z'}]. */
static const uint8_t s_closure[] = {
    0x70, 0x00, 0x00, 0x00, 0x4B, 0x01, 0x31, 0x03, 0xF7, 0x17, 0xC4, 0xCB, 0x40, 0x38, 0x65, 0xB3,
    0x7D, 0xF0, 0xFD, 0xF5, 0x68, 0xD0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x77, 0x09,
    0x63, 0x6E, 0x73, 0x61, 0x6D, 0x70, 0x6C, 0x65, 0x73, 0x61, 0x00, 0x62, 0x01, 0x88, 0x1F, 0xB8,
    0x58, 0x77, 0x0D, 0x6E, 0x6F, 0x6E, 0x6F, 0x64, 0x65, 0x40, 0x6E, 0x6F, 0x68, 0x6F, 0x73, 0x74,
    0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t s_export[] = {
    0x71, 0x77, 0x05, 0x6C, 0x69, 0x73, 0x74, 0x73, 0x77, 0x03, 0x6D, 0x61, 0x70, 0x61, 0x02,
};
static const uint8_t s_pid[] = {
    0x58, 0x77, 0x0D, 0x6E, 0x6F, 0x6E, 0x6F, 0x64, 0x65, 0x40, 0x6E, 0x6F, 0x68, 0x6F,
    0x73, 0x74, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t s_port[] = {
    0x59, 0x77, 0x0D, 0x6E, 0x6F, 0x6E, 0x6F, 0x64, 0x65, 0x40, 0x6E, 0x6F,
    0x68, 0x6F, 0x73, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t s_ref[] = {
    0x5A, 0x00, 0x03, 0x77, 0x0D, 0x6E, 0x6F, 0x6E, 0x6F, 0x64, 0x65, 0x40,
    0x6E, 0x6F, 0x68, 0x6F, 0x73, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x9E, 0x09, 0x91, 0xA0, 0x00, 0x01, 0x09, 0x6B, 0x8D, 0x25,
};
static const uint8_t s_big[] = {
    0x6E, 0x0D, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};
static const uint8_t s_negbig[] = {
    0x6E, 0x09, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
};
static const uint8_t s_hugebig[] = {
    0x6F, 0x00, 0x00, 0x01, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
};
static const uint8_t s_float[] = {
    0x46, 0x40, 0x09, 0x1E, 0xB8, 0x51, 0xEB, 0x85, 0x1F,
};
static const uint8_t s_map[] = {
    0x74, 0x00, 0x00, 0x00, 0x03, 0x77, 0x01, 0x61, 0x61, 0x01, 0x68, 0x01, 0x77,
    0x01, 0x63, 0x74, 0x00, 0x00, 0x00, 0x00, 0x6D, 0x00, 0x00, 0x00, 0x01, 0x62,
    0x6C, 0x00, 0x00, 0x00, 0x02, 0x61, 0x01, 0x61, 0x02, 0x61, 0x03,
};
static const uint8_t s_bits[] = {
    0x4D, 0x00, 0x00, 0x00, 0x01, 0x03, 0x20,
};
static const uint8_t s_str[] = {
    0x6B, 0x00, 0x05, 0x68, 0x65, 0x6C, 0x6C, 0x6F,
};
static const uint8_t s_utf8[] = {
    0x68, 0x04, 0x77, 0x03, 0xCE, 0xBB, 0x78, 0x76, 0x01, 0xFE, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB,
    0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0xCE, 0xBB, 0x71, 0x77, 0x05, 0x6C, 0x69, 0x73, 0x74, 0x73,
    0x77, 0x03, 0x6D, 0x61, 0x70, 0x61, 0x02, 0x58, 0x77, 0x0D, 0x6E, 0x6F, 0x6E, 0x6F, 0x64, 0x65,
    0x40, 0x6E, 0x6F, 0x68, 0x6F, 0x73, 0x74, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00,
};
static const uint8_t s_mixed[] = {
    0x6C, 0x00, 0x00, 0x00, 0x01, 0x68, 0x08, 0x77, 0x02, 0x6F, 0x6B, 0x77, 0x05, 0xC3, 0xA9, 0x6C,
    0x61, 0x6E, 0x6B, 0x00, 0x01, 0x78, 0x6D, 0x00, 0x00, 0x00, 0x00, 0x6A, 0x62, 0xFF, 0xFF, 0xFF,
    0xFB, 0x62, 0x00, 0x01, 0x11, 0x70, 0x77, 0xFF, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A,
    0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x7A, 0x6A,
};

typedef struct sample {
    const char *name;
    const uint8_t *p;
    size_t n;
} sample;

#define S(x)                                                                                       \
    {                                                                                              \
#x, x, sizeof x                                                                            \
    }

static const sample beam_samples[] = {
    S(s_closure), S(s_export), S(s_pid), S(s_port), S(s_ref), S(s_big),  S(s_negbig),
    S(s_hugebig), S(s_float),  S(s_map), S(s_bits), S(s_str), S(s_utf8), S(s_mixed),
};

/* Hand-built forms BEAM does not produce with minor_version 2 (node 'n@h'). */
#define NODE_100 100, 0, 3, 'n', '@', 'h'
static const uint8_t h_float_ext[] = {99,  '3', '.', '1', '4', '0', '0', '0', '0', '0', '0',
                                      '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0',
                                      'e', '+', '0', '0', 0,   0,   0,   0,   0,   0};
static const uint8_t h_atom_ext[] = {100, 0, 3, 'f', 'o', 'o'};
static const uint8_t h_small_atom[] = {115, 3, 0xE9, 'a', 'b'};
static const uint8_t h_pid_ext[] = {103, NODE_100, 0, 0, 0, 1, 0, 0, 0, 2, 3};
static const uint8_t h_port_ext[] = {102, NODE_100, 0, 0, 0, 7, 1};
static const uint8_t h_v4_port[] = {120, NODE_100, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 9};
static const uint8_t h_new_port[] = {89, NODE_100, 0, 0, 0, 7, 0, 0, 0, 9};
static const uint8_t h_ref_ext[] = {101, NODE_100, 0, 0, 0, 7, 1};
static const uint8_t h_new_ref[] = {114, 0, 2, NODE_100, 1, 0, 0, 0, 1, 0, 0, 0, 2};
static const uint8_t h_newer_ref5[] = {90, 0, 5, NODE_100, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0,
                                       0,  2, 0, 0,        0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
static const uint8_t h_large_tuple[] = {105, 0, 0, 0, 2, 97, 1, 106};
static const uint8_t h_empty_tuple[] = {104, 0};
static const uint8_t h_empty_map[] = {116, 0, 0, 0, 0};
static const uint8_t h_large_big[] = {111, 0, 0, 0, 1, 1, 5};
static const uint8_t h_bits_empty[] = {77, 0, 0, 0, 0, 0};
static const uint8_t h_bits_8[] = {77, 0, 0, 0, 2, 8, 0xAB, 0xCD};
static const uint8_t h_nil_tail_list0[] = {108, 0, 0, 0, 0, 106};
static const uint8_t h_improper[] = {108, 0, 0, 0, 2, 97, 1, 97, 2, 119, 1, 'x'};
static const uint8_t h_empty_atom[] = {119, 0};
static const uint8_t h_export_ref[] = {113, 115, 1, 'm', 100, 0, 1, 'f', 97, 0};

static const sample hand_samples[] = {
    S(h_float_ext),   S(h_atom_ext),       S(h_small_atom), S(h_pid_ext),    S(h_port_ext),
    S(h_v4_port),     S(h_new_port),       S(h_ref_ext),    S(h_new_ref),    S(h_newer_ref5),
    S(h_large_tuple), S(h_empty_tuple),    S(h_empty_map),  S(h_large_big),  S(h_bits_empty),
    S(h_bits_8),      S(h_nil_tail_list0), S(h_improper),   S(h_empty_atom), S(h_export_ref),
};

/* A valid term: scans to its full length, rewrites to itself, ei agrees on its length, and
 * every proper prefix is rejected. */
static void check_valid(const sample *s)
{
    size_t out_len = 0;
    int has = -1;
    long r = cn_term_scan(s->p, s->n, NULL, &out_len, &has);
    ck_assert_msg(r == (long)s->n, "%s: scan %ld, expected %zu", s->name, r, s->n);
    ck_assert_uint_eq(out_len, s->n);
    ck_assert_int_eq(has, 0);

    /* Trailing bytes are not part of the term. */
    uint8_t *buf = malloc(s->n + 3);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, s->p, s->n);
    memset(buf + s->n, 97, 3);
    ck_assert_int_eq(cn_term_scan(buf, s->n + 3, NULL, NULL, NULL), (long)s->n);
    free(buf);

    uint8_t *out = malloc(s->n);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(cn_term_rewrite(s->p, s->n, NULL, out), s->n);
    ck_assert_mem_eq(out, s->p, s->n);
    free(out);

    char *v = malloc(s->n + 1);
    ck_assert_ptr_nonnull(v);
    v[0] = (char)131;
    memcpy(v + 1, s->p, s->n);
    int idx = 1;
    ck_assert_msg(ei_skip_term(v, &idx) == 0 && idx == (int)s->n + 1, "%s: ei disagrees", s->name);
    free(v);

    for (size_t k = 0; k < s->n; k++) {
        /* Exact-size heap copies let ASan catch any read past the end. */
        uint8_t *t = malloc(k ? k : 1);
        ck_assert_ptr_nonnull(t);
        if (k)
            memcpy(t, s->p, k);
        ck_assert_msg(cn_term_scan(t, k, NULL, NULL, NULL) == -1, "%s: prefix %zu accepted",
                      s->name, k);
        free(t);
    }
}

START_TEST(beam_terms)
{
    for (size_t i = 0; i < sizeof beam_samples / sizeof beam_samples[0]; i++)
        check_valid(&beam_samples[i]);
}
END_TEST

START_TEST(hand_terms)
{
    for (size_t i = 0; i < sizeof hand_samples / sizeof hand_samples[0]; i++)
        check_valid(&hand_samples[i]);
}
END_TEST

static sample from_x(const char *name, ei_x_buff *x)
{
    return (sample){name, (const uint8_t *)x->buff, (size_t)x->index};
}

START_TEST(ei_terms)
{
    ei_x_buff x;
    ei_x_new(&x);
    ck_assert_int_eq(ei_x_encode_tuple_header(&x, 17), 0);
    ei_x_encode_long(&x, 5);
    ei_x_encode_long(&x, -100000);
    ei_x_encode_longlong(&x, 0x7FFFFFFFFFFFFFFFLL);
    ei_x_encode_ulonglong(&x, 0xFFFFFFFFFFFFFFFFULL);
    ei_x_encode_double(&x, -2.5e300);
    ei_x_encode_atom_len_as(&x, "λ", 2, ERLANG_UTF8, ERLANG_UTF8);
    ei_x_encode_string(&x, "a string");
    ei_x_encode_binary(&x, "\0\1\2", 3);
    ei_x_encode_bitstring(&x, "\xff\x80", 0, 9);
    ei_x_encode_map_header(&x, 2);
    ei_x_encode_atom(&x, "k");
    ei_x_encode_empty_list(&x);
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_long(&x, 1);
    ei_x_encode_empty_list(&x);
    ei_x_encode_tuple_header(&x, 0);
    /* improper list [1, 2 | x] */
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 2);
    ei_x_encode_atom(&x, "x");
    erlang_pid pid = {.num = 1 << 20, .serial = 3, .creation = 0x12345678};
    strcpy(pid.node, "a@b");
    ei_x_encode_pid(&x, &pid);
    erlang_port port = {.id = 1ULL << 40, .creation = 7};
    strcpy(port.node, "a@b");
    ei_x_encode_port(&x, &port);
    port.id = 5;
    ei_x_encode_port(&x, &port);
    erlang_ref ref = {.len = 5, .n = {1, 2, 3, 4, 5}, .creation = 9};
    strcpy(ref.node, "a@b");
    ei_x_encode_ref(&x, &ref);
    erlang_fun fun;
    memset(&fun, 0, sizeof fun);
    fun.arity = 1;
    strcpy(fun.module, "mod");
    fun.type = EI_FUN_CLOSURE;
    fun.u.closure.index = 3;
    fun.u.closure.old_index = 3;
    fun.u.closure.uniq = 12345;
    fun.u.closure.n_free_vars = 2;
    fun.u.closure.pid = pid;
    char fv[] = {97, 1, 119, 1, 'q'};
    fun.u.closure.free_var_len = sizeof fv;
    fun.u.closure.free_vars = fv;
    ck_assert_int_eq(ei_x_encode_fun(&x, &fun), 0);
    fun.type = EI_FUN_EXPORT;
    fun.u.exprt.func = "f";
    fun.u.exprt.func_allocated = 0;
    ck_assert_int_eq(ei_x_encode_fun(&x, &fun), 0);
    sample s = from_x("ei tuple", &x);
    check_valid(&s);
    ei_x_free(&x);
}
END_TEST

static long scan(const uint8_t *p, size_t n)
{
    return cn_term_scan(p, n, NULL, NULL, NULL);
}
#define SCAN(...) scan((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

START_TEST(rejected_tags)
{
    ck_assert_int_eq(SCAN(80, 0, 0, 0, 1, 0x78, 0x9c, 0), -1); /* compressed */
    ck_assert_int_eq(SCAN(121, 0, 0, 0, 0), -1);               /* LOCAL_EXT */
    ck_assert_int_eq(SCAN(117, 0, 0, 0, 0), -1);               /* FUN_EXT */
    for (int t = 0; t < 256; t++) {
        static const int known[] = {97,  98,  110, 111, 70,  99,  118, 119, 100, 115,
                                    82,  104, 105, 106, 107, 108, 109, 77,  116, 88,
                                    103, 89,  120, 102, 90,  114, 101, 112, 113};
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= known[i] == t;
        if (ok)
            continue;
        uint8_t b[64] = {(uint8_t)t};
        ck_assert_msg(scan(b, sizeof b) == -1, "tag %d accepted", t);
    }
    ck_assert_int_eq(SCAN(82, 0), -1); /* cache ref without refs */
}
END_TEST

START_TEST(rejected_values)
{
    /* bit binaries: bits 0 with data, 9, bits without data */
    ck_assert_int_eq(SCAN(77, 0, 0, 0, 1, 0, 0xFF), -1);
    ck_assert_int_eq(SCAN(77, 0, 0, 0, 1, 9, 0xFF), -1);
    ck_assert_int_eq(SCAN(77, 0, 0, 0, 0, 3), -1);
    ck_assert_int_eq(SCAN(77, 0, 0, 0, 1, 1, 0x80), 7);
    /* references: 0 and 6 words */
    ck_assert_int_eq(SCAN(90, 0, 0, NODE_100, 0, 0, 0, 1), -1);
    ck_assert_int_eq(SCAN(90, 0, 6, NODE_100, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0,
                          0, 1, 0, 0, 0, 1, 0, 0, 0, 1),
                     -1);
    ck_assert_int_eq(SCAN(114, 0, 0, NODE_100, 1), -1);
    /* node that is not an atom */
    ck_assert_int_eq(SCAN(88, 97, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3), -1);
    ck_assert_int_eq(SCAN(88, 107, 0, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3), -1);
    /* bignum sign */
    ck_assert_int_eq(SCAN(110, 1, 2, 5), -1);
    ck_assert_int_eq(SCAN(111, 0, 0, 0, 1, 2, 5), -1);
    /* non-finite floats */
    ck_assert_int_eq(SCAN(70, 0x7F, 0xF0, 0, 0, 0, 0, 0, 0), -1);
    ck_assert_int_eq(SCAN(70, 0xFF, 0xF8, 0, 0, 0, 0, 0, 1), -1);
    ck_assert_int_eq(SCAN(70, 0x7F, 0xEF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF), 9);
    /* atoms: Latin-1 over 255, UTF-8 invalid / overlong / surrogate / too many chars */
    {
        uint8_t b[3 + 256];
        b[0] = 100;
        cn_set16(b + 1, 256);
        memset(b + 3, 'a', 256);
        ck_assert_int_eq(scan(b, sizeof b), -1);
        cn_set16(b + 1, 255);
        ck_assert_int_eq(scan(b, sizeof b), 258);
    }
    ck_assert_int_eq(SCAN(119, 1, 0x80), -1);
    ck_assert_int_eq(SCAN(119, 2, 0xC0, 0x80), -1);
    ck_assert_int_eq(SCAN(119, 3, 0xED, 0xA0, 0x80), -1);
    ck_assert_int_eq(SCAN(119, 4, 0xF4, 0x90, 0x80, 0x80), -1);
    ck_assert_int_eq(SCAN(119, 2, 0xC3, 0xA9), 4);
    ck_assert_int_eq(SCAN(118, 0, 4, 0xF0, 0x9F, 0x98, 0x80), 7);
    {
        uint8_t b[3 + 1024];
        b[0] = 118;
        cn_set16(b + 1, 1021);
        memset(b + 3, 'a', 1021);
        ck_assert_int_eq(scan(b, 3 + 1021), -1); /* > 1020 bytes */
        cn_set16(b + 1, 256);
        ck_assert_int_eq(scan(b, 3 + 256), -1); /* 256 characters */
        cn_set16(b + 1, 255);
        ck_assert_int_eq(scan(b, 3 + 255), 258);
        for (int i = 0; i < 255; i++)
            memcpy(b + 3 + 4 * i, "\xF0\x9F\x98\x80", 4);
        cn_set16(b + 1, 1020);
        ck_assert_int_eq(scan(b, 3 + 1020), 1023); /* 255 four-byte characters */
    }
    /* FLOAT_EXT text */
    {
        uint8_t b[32] = {99};
        memcpy(b + 1, "1.5", 3);
        ck_assert_int_eq(scan(b, 32), 32);
        memcpy(b + 1, "-2.50000000000000000000e+300", 28);
        ck_assert_int_eq(scan(b, 32), 32);
        memcpy(b + 1, "1.5x", 4);
        ck_assert_int_eq(scan(b, 32), -1);
        memset(b + 1, 0, 31);
        memcpy(b + 1, "abc", 3);
        ck_assert_int_eq(scan(b, 32), -1);
        memcpy(b + 1, "1e", 2);
        ck_assert_int_eq(scan(b, 32), -1);
        memset(b + 1, '1', 31); /* no NUL */
        ck_assert_int_eq(scan(b, 32), -1);
        memset(b + 1, 0, 31);
        ck_assert_int_eq(scan(b, 32), -1);
    }
    /* export arity must be a small integer */
    ck_assert_int_eq(SCAN(113, 119, 1, 'm', 119, 1, 'f', 98, 0, 0, 0, 1), -1);
    ck_assert_int_eq(SCAN(113, 119, 1, 'm', 106, 97, 1), -1);
}
END_TEST

/* Closure layout helper: returns the offset of the Size field. */
static void put32(uint8_t *p, uint32_t v)
{
    cn_set32(p, v);
}

START_TEST(fun_size)
{
    /* 112 Size Arity Uniq[16] Index NumFree=1 Module OldIndex OldUniq Pid FreeVar */
    uint8_t b[128];
    size_t n = 0;
    b[n++] = 112;
    size_t at = n;
    n += 4;
    b[n++] = 1;
    memset(b + n, 0xAA, 16);
    n += 16;
    put32(b + n, 0);
    n += 4;
    put32(b + n, 1);
    n += 4;
    const uint8_t rest[] = {119, 1, 'm', 97, 0, 98, 0, 0, 0, 5, 88, 119, 3, 'a', '@',
                            'b', 0, 0,   0,  1, 0,  0, 0, 0, 0, 0,  0,   1, 97,  9};
    memcpy(b + n, rest, sizeof rest);
    n += sizeof rest;
    put32(b + at, (uint32_t)(n - at));
    ck_assert_int_eq(scan(b, n), (long)n);
    sample s = {"fun", b, n};
    check_valid(&s);
    put32(b + at, (uint32_t)(n - at + 1));
    b[n] = 106;
    ck_assert_int_eq(scan(b, n + 1), -1); /* Size one too big */
    put32(b + at, (uint32_t)(n - at - 1));
    ck_assert_int_eq(scan(b, n), -1); /* one too small */
    put32(b + at, 28);
    ck_assert_int_eq(scan(b, n), -1); /* below the fixed part */
    put32(b + at, (uint32_t)(n - at));
    b[at + 4 + 1 + 16 + 4 + 3] = 2; /* NumFree 2, only one there */
    ck_assert_int_eq(scan(b, n), -1);
    b[at + 4 + 1 + 16 + 4 + 3] = 1;
    size_t mod = at + 4 + 1 + 16 + 4 + 4;
    b[mod] = 97; /* module not an atom */
    ck_assert_int_eq(scan(b, n), -1);
    b[mod] = 119;
    b[mod + 3] = 106; /* OldIndex not an integer */
    ck_assert_int_eq(scan(b, n), -1);
    b[mod + 3] = 97;
    b[mod + 10] = 97; /* Pid not a pid */
    ck_assert_int_eq(scan(b, n), -1);
    b[mod + 10] = 103; /* PID_EXT: 3 bytes shorter, so Size no longer matches */
    ck_assert_int_eq(scan(b, n), -1);
    b[mod + 10] = 88;
    ck_assert_int_eq(scan(b, n), (long)n);
    /* no free variables: Size still checked */
    b[at + 4 + 1 + 16 + 4 + 3] = 0;
    put32(b + at, (uint32_t)(n - 2 - at));
    ck_assert_int_eq(scan(b, n - 2), (long)(n - 2));
    put32(b + at, (uint32_t)(n - at));
    ck_assert_int_eq(scan(b, n), -1);
}
END_TEST

static uint8_t *nested(size_t depth, uint8_t open_tag, size_t *len)
{
    /* depth x {open_tag, 1 element} then 'a', then (for lists) depth NIL tails */
    int list = open_tag == 108;
    size_t per = list ? 5 : 2;
    size_t n = depth * per + 2 + (list ? depth : 0);
    uint8_t *b = malloc(n);
    size_t k = 0;
    for (size_t i = 0; i < depth; i++) {
        b[k++] = open_tag;
        if (list) {
            put32(b + k, 1);
            k += 4;
        } else {
            b[k++] = 1;
        }
    }
    b[k++] = 97;
    b[k++] = 1;
    for (size_t i = 0; list && i < depth; i++)
        b[k++] = 106;
    *len = n;
    return b;
}

START_TEST(depth)
{
    size_t n;
    uint8_t *b = nested(CN_TERM_MAX_DEPTH, 104, &n);
    ck_assert_int_eq(scan(b, n), (long)n);
    free(b);
    b = nested(CN_TERM_MAX_DEPTH + 1, 104, &n);
    ck_assert_int_eq(scan(b, n), -1);
    ck_assert_str_eq(cn_term_error(), "nested deeper than 1000 levels");
    free(b);
    b = nested(CN_TERM_MAX_DEPTH, 108, &n);
    ck_assert_int_eq(scan(b, n), (long)n);
    free(b);
    clock_t t0 = clock();
    b = nested(100000, 108, &n);
    ck_assert_int_eq(scan(b, n), -1);
    free(b);
    /* 1M nested maps values: #{a => #{a => ...}} */
    size_t depth = 1000000;
    n = depth * 7 + 1;
    b = malloc(n);
    for (size_t i = 0; i < depth; i++)
        memcpy(b + 7 * i, "\x74\0\0\0\x01\x61\x01", 7);
    b[n - 1] = 106;
    ck_assert_int_eq(scan(b, n), -1);
    free(b);
    ck_assert_msg(clock() - t0 < CLOCKS_PER_SEC, "depth bombs too slow");
}
END_TEST

/* A refusal says why, for the log line that closes the connection. */
START_TEST(errors_say_why)
{
    const uint8_t no_tail[] = {108, 0, 0, 0, 1, 97, 1}; /* [1 | _]: the tail is missing */
    ck_assert_int_eq(scan(no_tail, sizeof no_tail), -1);
    ck_assert_str_eq(cn_term_error(), "truncated at byte 7");
    const uint8_t short_int[] = {104, 2, 97, 1, 98, 0};
    ck_assert_int_eq(scan(short_int, sizeof short_int), -1);
    ck_assert_str_eq(cn_term_error(), "bad or truncated item at byte 4 (tag 98)");
    const uint8_t bad_tag[] = {104, 2, 97, 1, 80, 0, 0, 0, 1, 0};
    ck_assert_int_eq(scan(bad_tag, sizeof bad_tag), -1);
    ck_assert_str_eq(cn_term_error(), "bad or truncated item at byte 4 (tag 80)");
    const uint8_t big_count[] = {108, 0x7f, 0xff, 0xff, 0xff, 97, 1, 106};
    ck_assert_int_eq(scan(big_count, sizeof big_count), -1);
    ck_assert_str_eq(cn_term_error(), "more elements than bytes left at byte 0");
    ck_assert_int_eq(scan(big_count, 0), -1);
    ck_assert_str_eq(cn_term_error(), "truncated at byte 0");
}
END_TEST

START_TEST(huge_lengths)
{
    clock_t t0 = clock();
    ck_assert_int_eq(SCAN(108, 0xFF, 0xFF, 0xFF, 0xFF, 97, 1, 106), -1);
    ck_assert_int_eq(SCAN(105, 0xFF, 0xFF, 0xFF, 0xFF, 97, 1), -1);
    ck_assert_int_eq(SCAN(116, 0x80, 0, 0, 0, 97, 1, 97, 1), -1);
    ck_assert_int_eq(SCAN(116, 0xFF, 0xFF, 0xFF, 0xFF, 97, 1, 97, 1), -1);
    ck_assert_int_eq(SCAN(109, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3), -1);
    ck_assert_int_eq(SCAN(109, 0xFF, 0xFF, 0xFF, 0xFB, 1, 2, 3), -1);
    ck_assert_int_eq(SCAN(77, 0xFF, 0xFF, 0xFF, 0xFF, 8, 1, 2, 3), -1);
    ck_assert_int_eq(SCAN(111, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 2, 3), -1);
    ck_assert_int_eq(SCAN(110, 0xFF, 0, 1, 2, 3), -1);
    ck_assert_int_eq(SCAN(107, 0xFF, 0xFF, 'a'), -1);
    ck_assert_int_eq(SCAN(118, 0xFF, 0xFF, 'a'), -1);
    ck_assert_int_eq(SCAN(100, 0xFF, 0xFF, 'a'), -1);
    ck_assert_int_eq(SCAN(112, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 119, 0, 97, 1),
                     -1);
    ck_assert_int_eq(SCAN(112, 0, 0, 0, 33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                          0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 119, 0, 97, 1, 97, 1),
                     -1);
    /* A list whose count is plausible byte-wise but whose elements run out. */
    uint8_t *b = calloc(1, 1 << 20);
    b[0] = 108;
    put32(b + 1, (1 << 20) - 5);
    memset(b + 5, 106, (1 << 20) - 5);
    ck_assert_int_eq(scan(b, 1 << 20), -1); /* one byte short of the tail */
    put32(b + 1, (1 << 20) - 6);
    ck_assert_int_eq(scan(b, 1 << 20), 1 << 20);
    free(b);
    ck_assert_msg(clock() - t0 < CLOCKS_PER_SEC, "huge lengths too slow");
}
END_TEST

/* Two encodings built in step: one with cache refs, one with the real atoms (via ei). */
typedef struct pair {
    ei_x_buff r, a;
} pair;

static const char *names[] = {"ok", "", NULL /* long atom, filled in */, "node@host", "m", "λ"};
static char long_atom[301];
static cn_atom_refs refs;

static void setup_refs(void)
{
    for (int i = 0; i < 150; i++)
        memcpy(long_atom + 2 * i, "\xC3\xA9", 2);
    long_atom[300] = 0;
    names[2] = long_atom;
    refs.n = 6;
    for (int i = 0; i < 6; i++) {
        refs.name[i] = names[i];
        refs.len[i] = (uint16_t)strlen(names[i]);
    }
}

static void p_raw(pair *b, const void *p, int n)
{
    ei_x_append_buf(&b->r, p, n);
    ei_x_append_buf(&b->a, p, n);
}
static void p_atom(pair *b, int i)
{
    uint8_t t[2] = {82, (uint8_t)i};
    ei_x_append_buf(&b->r, (char *)t, 2);
    ck_assert_int_eq(
        ei_x_encode_atom_len_as(&b->a, names[i], (int)strlen(names[i]), ERLANG_UTF8, ERLANG_UTF8),
        0);
}
static void p_tuple(pair *b, int n)
{
    ei_x_encode_tuple_header(&b->r, n);
    ei_x_encode_tuple_header(&b->a, n);
}
static void p_list(pair *b, int n)
{
    ei_x_encode_list_header(&b->r, n);
    ei_x_encode_list_header(&b->a, n);
}
static void p_map(pair *b, int n)
{
    ei_x_encode_map_header(&b->r, n);
    ei_x_encode_map_header(&b->a, n);
}
static void p_long(pair *b, long v)
{
    ei_x_encode_long(&b->r, v);
    ei_x_encode_long(&b->a, v);
}
static void p_pid(pair *b, int node)
{
    p_raw(b, "\x58", 1);
    p_atom(b, node);
    p_raw(b, "\0\0\0\1\0\0\0\2\0\0\0\3", 12);
}
/* NEW_FUN_EXT up to (not including) Module; returns the Size offsets via *at. */
static void p_fun_begin(pair *b, int nfree, int at[2])
{
    p_raw(b, "\x70", 1);
    at[0] = b->r.index;
    at[1] = b->a.index;
    uint8_t fixed[4 + 1 + 16 + 4 + 4] = {0};
    fixed[4] = 2;
    memset(fixed + 5, 0x5A, 16);
    fixed[24] = 7;
    fixed[28] = (uint8_t)nfree;
    p_raw(b, fixed, sizeof fixed);
}
static void p_fun_end(pair *b, const int at[2])
{
    put32((uint8_t *)b->r.buff + at[0], (uint32_t)(b->r.index - at[0]));
    put32((uint8_t *)b->a.buff + at[1], (uint32_t)(b->a.index - at[1]));
}

/* {ok, '', Long, [λ, 1 | ''], #{ok => Long, λ => {}}, Pid@node, fun (with refs in module,
 *  pid and free vars), fun m:ok/1, [<<"bin">>], λ} */
static void build(pair *b)
{
    int at[2], at2[2];
    ei_x_new(&b->r);
    ei_x_new(&b->a);
    p_tuple(b, 10);
    p_atom(b, 0);
    p_atom(b, 1);
    p_atom(b, 2);
    p_list(b, 2);
    p_atom(b, 5);
    p_long(b, 1);
    p_atom(b, 1);
    p_map(b, 2);
    p_atom(b, 0);
    p_atom(b, 2);
    p_atom(b, 5);
    p_tuple(b, 0);
    p_pid(b, 3);
    p_fun_begin(b, 2, at);
    p_atom(b, 4);           /* Module */
    p_long(b, 7);           /* OldIndex */
    p_long(b, 99999);       /* OldUniq */
    p_pid(b, 3);            /* Pid */
    p_atom(b, 2);           /* free var 1 */
    p_fun_begin(b, 1, at2); /* free var 2: a nested fun */
    p_atom(b, 2);
    p_long(b, 1);
    p_long(b, 2);
    p_pid(b, 2);
    p_atom(b, 0);
    p_fun_end(b, at2);
    p_fun_end(b, at);
    p_raw(b, "\x71", 1);
    p_atom(b, 4);
    p_atom(b, 0);
    p_raw(b, "\x61\x01", 2);
    p_list(b, 1);
    p_raw(b, "\x6D\0\0\0\3bin", 8);
    p_list(b, 0);
    p_atom(b, 5);
}

START_TEST(rewrite)
{
    setup_refs();
    pair b;
    build(&b);
    size_t out_len = 0;
    int has = 0;
    long r = cn_term_scan((uint8_t *)b.r.buff, (size_t)b.r.index, &refs, &out_len, &has);
    ck_assert_int_eq(r, b.r.index);
    ck_assert_int_eq(has, 1);
    ck_assert_uint_eq(out_len, (size_t)b.a.index);
    uint8_t *out = malloc(out_len + 1);
    out[0] = 131;
    size_t w = cn_term_rewrite((uint8_t *)b.r.buff, (size_t)b.r.index, &refs, out + 1);
    ck_assert_uint_eq(w, out_len);
    ck_assert_mem_eq(out + 1, b.a.buff, out_len);
    /* The rewritten term decodes with ei (fun Size fields included). */
    int idx = 0, ver, arity;
    ck_assert_int_eq(ei_decode_version((char *)out, &idx, &ver), 0);
    ck_assert_int_eq(ei_decode_tuple_header((char *)out, &idx, &arity), 0);
    ck_assert_int_eq(arity, 10);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(ei_skip_term((char *)out, &idx), 0);
    erlang_fun f;
    ck_assert_int_eq(ei_decode_fun((char *)out, &idx, &f), 0);
    ck_assert_str_eq(f.module, "m");
    free_fun(&f);
    idx = 0;
    ei_decode_version((char *)out, &idx, &ver);
    ck_assert_int_eq(ei_skip_term((char *)out, &idx), 0);
    ck_assert_int_eq(idx, (int)out_len + 1);
    /* The rewritten term scans without refs and is unchanged by a second rewrite. */
    ck_assert_int_eq(cn_term_scan(out + 1, out_len, NULL, NULL, NULL), (long)out_len);

    /* Every truncation of the ref form fails; refs out of range fail. */
    for (int k = 0; k < b.r.index; k++)
        ck_assert_int_eq(cn_term_scan((uint8_t *)b.r.buff, (size_t)k, &refs, NULL, NULL), -1);
    ck_assert_int_eq(cn_term_scan((uint8_t *)b.r.buff, (size_t)b.r.index, NULL, NULL, NULL), -1);
    cn_atom_refs few = refs;
    few.n = 5;
    ck_assert_int_eq(cn_term_scan((uint8_t *)b.r.buff, (size_t)b.r.index, &few, NULL, NULL), -1);
    free(out);
    ei_x_free(&b.r);
    ei_x_free(&b.a);
}
END_TEST

/* The same rewrite within one buffer: the term placed after out_len - n spare bytes comes
 * out at the start, identical to the copying rewrite (fun sizes too), with a tail after it
 * (a large binary behind the refs) left where it was. */
START_TEST(rewrite_in_place)
{
    setup_refs();
    pair b;
    build(&b);
    p_raw(&b, "\x6D\0\0\x10\0", 5); /* a 4 KiB binary after the refs, inside a 2-tuple */
    uint8_t tail[4096];
    for (size_t i = 0; i < sizeof tail; i++)
        tail[i] = (uint8_t)(i * 7);
    p_raw(&b, tail, sizeof tail);
    ei_x_buff r, a;
    ei_x_new(&r);
    ei_x_new(&a);
    ei_x_append_buf(&r, "\x68\x02", 2);
    ei_x_append_buf(&r, b.r.buff, b.r.index);
    ei_x_append_buf(&a, "\x68\x02", 2);
    ei_x_append_buf(&a, b.a.buff, b.a.index);
    size_t n = (size_t)r.index, out_len = 0;
    ck_assert_int_eq(cn_term_scan((uint8_t *)r.buff, n, &refs, &out_len, NULL), (long)n);
    ck_assert_uint_eq(out_len, (size_t)a.index);
    uint8_t *buf = malloc(out_len);
    uint8_t *at = buf + (out_len - n);
    memcpy(at, r.buff, n);
    const uint8_t *bin = at + n - sizeof tail;
    ck_assert_uint_eq(cn_term_rewrite_in_place(at, n, &refs, out_len), out_len);
    ck_assert_mem_eq(buf, a.buff, out_len);
    ck_assert_mem_eq(bin, tail, sizeof tail);                            /* the tail did not move */
    ck_assert_uint_eq(cn_term_rewrite_in_place(at, n, &refs, n - 1), 0); /* out_len < n */
    free(buf);
    ei_x_free(&r);
    ei_x_free(&a);
    ei_x_free(&b.r);
    ei_x_free(&b.a);
}
END_TEST

START_TEST(rewrite_simple)
{
    setup_refs();
    const uint8_t t[] = {82, 2};
    size_t out_len;
    int has;
    ck_assert_int_eq(cn_term_scan(t, 2, &refs, &out_len, &has), 2);
    ck_assert_uint_eq(out_len, 303);
    uint8_t out[303];
    ck_assert_uint_eq(cn_term_rewrite(t, 2, &refs, out), 303);
    ck_assert_int_eq(out[0], 118);
    ck_assert_int_eq(cn_get16(out + 1), 300);
    ck_assert_mem_eq(out + 3, long_atom, 300);
    const uint8_t u[] = {82, 1};
    ck_assert_int_eq(cn_term_scan(u, 2, &refs, &out_len, &has), 2);
    ck_assert_uint_eq(out_len, 2);
    ck_assert_uint_eq(cn_term_rewrite(u, 2, &refs, out), 2);
    ck_assert_int_eq(out[0], 119);
    ck_assert_int_eq(out[1], 0);
    const uint8_t v[] = {82, 6};
    ck_assert_int_eq(cn_term_scan(v, 2, &refs, NULL, NULL), -1);
    const uint8_t trunc[] = {82};
    ck_assert_int_eq(cn_term_scan(trunc, 1, &refs, NULL, NULL), -1);
}
END_TEST

/* Scan and rewrite in one pass: the same bytes as cn_term_rewrite, the term's own input
 * length even with bytes after it, -1 for every truncation, and never more output than the
 * bound, even for a term that is nothing but refs to the longest atom (each output buffer is
 * exactly the bound, so a sanitizer build catches an overflow). */
START_TEST(scan_rewrite)
{
    setup_refs();
    pair b;
    build(&b);
    size_t n = (size_t)b.r.index;
    ei_x_append_buf(&b.r, "\x61\x07", 2); /* a next term: not part of this one */
    size_t bound = cn_term_scan_rewrite_bound(n + 2, &refs);
    uint8_t *out = malloc(bound);
    size_t out_len = 0;
    ck_assert_int_eq(cn_term_scan_rewrite((uint8_t *)b.r.buff, n + 2, &refs, out, &out_len),
                     (long)n);
    ck_assert_uint_eq(out_len, (size_t)b.a.index);
    ck_assert_mem_eq(out, b.a.buff, out_len);
    for (size_t k = 0; k < n; k++) {
        size_t bk = cn_term_scan_rewrite_bound(k, &refs);
        uint8_t *o = malloc(bk ? bk : 1);
        ck_assert_int_eq(cn_term_scan_rewrite((uint8_t *)b.r.buff, k, &refs, o, &out_len), -1);
        free(o);
    }
    ck_assert_int_eq(cn_term_scan_rewrite((uint8_t *)b.r.buff, n, NULL, out, &out_len), -1);
    free(out);
    ei_x_free(&b.r);
    ei_x_free(&b.a);

    /* [R, R, ..., R] with R the 300-byte atom: 5 + 2k + 1 bytes in */
    enum { K = 200 };
    uint8_t in[5 + 2 * K + 1];
    in[0] = 108;
    cn_set32(in + 1, K);
    for (int i = 0; i < K; i++) {
        in[5 + 2 * i] = 82;
        in[6 + 2 * i] = 2;
    }
    in[5 + 2 * K] = 106;
    bound = cn_term_scan_rewrite_bound(sizeof in, &refs);
    out = malloc(bound);
    ck_assert_int_eq(cn_term_scan_rewrite(in, sizeof in, &refs, out, &out_len), (long)sizeof in);
    ck_assert_uint_eq(out_len, 5 + K * 303 + 1);
    ck_assert_uint_le(out_len, bound);
    free(out);
}
END_TEST

START_TEST(atom_text)
{
    ck_assert(cn_term_atom_text_ok((const uint8_t *)"", 0));
    ck_assert(cn_term_atom_text_ok((const uint8_t *)"abc", 3));
    ck_assert(!cn_term_atom_text_ok((const uint8_t *)"\xE2\x82", 2));
    ck_assert(cn_term_atom_text_ok((const uint8_t *)"\xE2\x82\xAC", 3));
    ck_assert(!cn_term_atom_text_ok((const uint8_t *)"\xE0\x80\x80", 3));
    ck_assert(!cn_term_atom_text_ok((const uint8_t *)"\xF8\x80\x80\x80", 4));
}
END_TEST

int main(void)
{
    ei_init();
    Suite *s = suite_create("term");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, beam_terms);
    tcase_add_test(tc, hand_terms);
    tcase_add_test(tc, ei_terms);
    tcase_add_test(tc, rejected_tags);
    tcase_add_test(tc, rejected_values);
    tcase_add_test(tc, fun_size);
    tcase_add_test(tc, depth);
    tcase_add_test(tc, errors_say_why);
    tcase_add_test(tc, huge_lengths);
    tcase_add_test(tc, rewrite);
    tcase_add_test(tc, rewrite_in_place);
    tcase_add_test(tc, rewrite_simple);
    tcase_add_test(tc, scan_rewrite);
    tcase_add_test(tc, atom_text);
    suite_add_tcase(s, tc);
    return cn_check_run(s);
}
