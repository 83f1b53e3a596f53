// A small helper to write ONNX graphs from TypeScript (onnx-proto = ONNX's protobuf schema for protobufjs):
// the project generates its shipped models itself, deterministically, with nothing downloaded.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

type Attr = number | number[] | string;

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private n = 0;

  constant(name: string, dims: number[], values: Float32Array | number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    if (data.length !== dims.reduce((a, b) => a * b, 1))
      throw new Error(`constant ${name}: ${data.length} values for dims ${dims.join('x')}`);
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: FLOAT,
        dims,
        rawData: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      }),
    );
    return name;
  }

  int64(name: string, values: number[]): string {
    this.initializers.push(
      onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], int64Data: values }),
    );
    return name;
  }

  /** Adds a node; returns its (single) output name. */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, Attr> = {},
    output = `t${this.n++}_${opType.toLowerCase()}`,
  ): string {
    const attribute = Object.entries(attrs).map(([name, v]) =>
      typeof v === 'string'
        ? onnx.AttributeProto.create({
            name,
            type: onnx.AttributeProto.AttributeType.STRING,
            s: Buffer.from(v),
          })
        : Array.isArray(v)
          ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: v })
          : Number.isInteger(v)
            ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: v })
            : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v }),
    );
    this.nodes.push(
      onnx.NodeProto.create({ opType, input: inputs, output: [output], attribute, name: output }),
    );
    return output;
  }

  build(
    name: string,
    input: { name: string; dims: (number | string)[] },
    output: { name: string; dims: (number | string)[] },
  ): Buffer {
    const vi = (v: { name: string; dims: (number | string)[] }) =>
      onnx.ValueInfoProto.create({
        name: v.name,
        type: {
          tensorType: {
            elemType: FLOAT,
            shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
          },
        },
      });
    const graph = onnx.GraphProto.create({
      name,
      node: this.nodes,
      input: [vi(input)],
      output: [vi(output)],
      initializer: this.initializers,
    });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'vigil',
      producerVersion: '1',
      graph,
    });
    return Buffer.from(onnx.ModelProto.encode(model).finish());
  }
}
