// A small helper to write ONNX graphs from TypeScript (onnx-proto = ONNX's protobuf schema for protobufjs):
// the project generates its shipped models itself, deterministically, with nothing downloaded.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

type Attr = number | number[] | string;

/** A graph input or output: name, dims (numbers or symbolic names), element type (float32 by default). */
export interface Io {
  readonly name: string;
  readonly dims: (number | string)[];
  readonly type?: 'float32' | 'int64';
}

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

  /** A 0-d int64 constant (a scalar, as Range and Gather indices want). */
  scalar(name: string, value: number): string {
    this.initializers.push(onnx.TensorProto.create({ name, dataType: INT64, dims: [], int64Data: [value] }));
    return name;
  }

  int64(name: string, values: number[]): string {
    this.initializers.push(
      onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], int64Data: values }),
    );
    return name;
  }

  /** An int64 constant of any shape (folded TensorFlow shapes, indices). */
  int64Tensor(name: string, dims: number[], values: number[]): string {
    this.initializers.push(onnx.TensorProto.create({ name, dataType: INT64, dims, int64Data: values }));
    return name;
  }

  /** Adds a node with several outputs (TopK); returns their names. */
  ops(opType: string, inputs: string[], attrs: Record<string, Attr>, outputs: string[]): string[] {
    const first = this.op(opType, inputs, attrs, outputs[0]);
    this.nodes.at(-1)!.output = outputs;
    return [first, ...outputs.slice(1)];
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

  build(name: string, input: Io | Io[], output: Io | Io[]): Buffer {
    const vi = (v: Io) =>
      onnx.ValueInfoProto.create({
        name: v.name,
        type: {
          tensorType: {
            elemType: v.type === 'int64' ? INT64 : FLOAT,
            shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
          },
        },
      });
    const graph = onnx.GraphProto.create({
      name,
      node: this.nodes,
      input: (Array.isArray(input) ? input : [input]).map(vi),
      output: (Array.isArray(output) ? output : [output]).map(vi),
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
