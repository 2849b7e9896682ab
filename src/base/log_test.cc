#include "base/log.h"

#include <gtest/gtest.h>

namespace dpd {
namespace {

TEST(LogLineJson, MessageThenFieldsWithNumbersAsNumbers) {
  EXPECT_EQ(LogLineJson("request id=7 ip=127.0.0.1 method=GET path=\"/todos\" status=200 us=31"),
            "{\"msg\":\"request\",\"id\":7,\"ip\":\"127.0.0.1\",\"method\":\"GET\",\"path\":\"/todos\",\"status\":200,"
            "\"us\":31}");
}

TEST(LogLineJson, QuotedValuesKeepTheirSpacesAndEscapes) {
  EXPECT_EQ(LogLineJson("script file=a.js console=" + LogQuote("say \"hi\"\n\\ now")),
            "{\"msg\":\"script\",\"file\":\"a.js\",\"console\":\"say \\\"hi\\\"\\n\\\\ now\"}");
  // A quoted number stays a string.
  EXPECT_EQ(LogLineJson("x v=\"12\""), "{\"msg\":\"x\",\"v\":\"12\"}");
}

TEST(LogLineJson, WordsAfterFieldsJoinTheMessage) {
  EXPECT_EQ(LogLineJson("request id=3 handler exception error=\"boom\""),
            "{\"msg\":\"request handler exception\",\"id\":3,\"error\":\"boom\"}");
  EXPECT_EQ(LogLineJson("realtime: 2 slow sockets dropped"), "{\"msg\":\"realtime: 2 slow sockets dropped\"}");
}

TEST(LogLineJson, ControlCharactersAndBrokenUtf8StayValidJson) {
  EXPECT_EQ(LogLineJson("p path=" + LogQuote(std::string("a\x01") + "\xff" + "\xc3\xa9")),
            "{\"msg\":\"p\",\"path\":\"a\\u0001\xef\xbf\xbd\xc3\xa9\"}");  // U+FFFD for the bad byte
  // Reserved keys cannot overwrite the envelope.
  EXPECT_EQ(LogLineJson("m level=x time=y msg=z k=1"), "{\"msg\":\"m\",\"k\":1}");
  // Not numbers: leading zeros, a lone minus, hex.
  EXPECT_EQ(LogLineJson("m a=007 b=- c=0x1 d=-1.5"),
            "{\"msg\":\"m\",\"a\":\"007\",\"b\":\"-\",\"c\":\"0x1\",\"d\":-1.5}");
}

}  // namespace
}  // namespace dpd
