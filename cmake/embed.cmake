# Turns a file into a C++ source defining `std::string_view NAMESPACE::FUNCTION()`, so files
# (the OpenAPI document, the web page) ship inside the binary. Run with -DINPUT -DOUTPUT
# -DNAMESPACE -DFUNCTION.
file(READ "${INPUT}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE "${OUTPUT}"
  "#include <string_view>\nnamespace ${NAMESPACE} {\nnamespace {\nconst unsigned char kData[] = {${bytes} 0};\n}\n"
  "std::string_view ${FUNCTION}() { return std::string_view(reinterpret_cast<const char*>(kData), sizeof kData - 1); }\n}\n")
